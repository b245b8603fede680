"""`celery` as the fault tests run it: the real worker (celery's own entry point), with each prompt's
pairs written SLOW_EXPORT_SECONDS slower, so that a test can kill the worker in the middle of an
export. Nothing else differs.

    python -m tests.faults.slow_worker -A labelhub worker ...
"""

import os
import sys
import time


def slow_down_exports(seconds: float) -> None:
    from annotations.export import writers

    real = writers.JsonlPairWriter.write_pairs

    def write_pairs_slowly(self, prompt, rows):
        time.sleep(seconds)
        return real(self, prompt, rows)

    writers.JsonlPairWriter.write_pairs = write_pairs_slowly


if __name__ == "__main__":
    seconds = float(os.environ.get("SLOW_EXPORT_SECONDS") or 0)
    if seconds:
        import django

        django.setup()
        slow_down_exports(seconds)
    from celery.__main__ import main

    sys.argv[0] = "celery"
    sys.exit(main())
