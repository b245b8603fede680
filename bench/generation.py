"""Benchmark: generation overhead. The fixture OpenAI-compatible server (tests/llm_server.py) answers
after 200 ms; with 32 requests at once the ideal is 32 / 0.2 = 160 completions/s. LabelHub's job
(thread pool, HTTP client, one locked save per completion in PostgreSQL) should reach at least 80 %.

    .venv/bin/python bench/generation.py [--prompts 500] [--target 4] [--latency 0.2] [--concurrency 32]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_import_bench]

It runs the same function as the Celery task and `manage.py generate_completions`, in this process.
"""

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_import_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=500)
    parser.add_argument("--target", type=int, default=4)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    name = args.database_url.rsplit("/", 1)[-1]
    subprocess.run(["psql", args.database_url.rsplit("/", 1)[0] + "/postgres", "-qc", f"CREATE DATABASE {name}"],
                   capture_output=True)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command

    from annotations.generating import run_generation
    from annotations.models import Completion, Project, Prompt
    from tests.llm_server import FakeLLM

    call_command("migrate", verbosity=0)
    Project.objects.filter(slug="bench-generation").delete()
    with FakeLLM(latency=args.latency) as llm:
        project = Project.objects.create(
            slug="bench-generation", name="bench", generation_enabled=True, target_completions=args.target,
            llm_base_url=llm.base_url, llm_model="fixture-model", generation_concurrency=args.concurrency,
        )
        Prompt.objects.bulk_create(Prompt(project=project, text=f"bench prompt {i}") for i in range(args.prompts))
        started = time.perf_counter()
        job = run_generation(project.pk)
        elapsed = time.perf_counter() - started
        stored = Completion.objects.filter(prompt__project=project).count()
        peak = llm.max_in_flight
    ideal = args.concurrency / args.latency
    rate = job.done / elapsed
    print(f"generated {job.done} completions ({job.failed} failed, {stored} stored) in {elapsed:.2f} s = "
          f"{rate:.1f} completions/s; ideal {ideal:.0f}/s; {rate / ideal:.0%} of ideal; "
          f"most requests in flight at once: {peak}")
    project.delete()


if __name__ == "__main__":
    main()
