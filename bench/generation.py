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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/lh_import_bench"


def http_only_rate(base_url: str, concurrency: int, requests: int) -> float:
    """The same HTTP client and thread pool with nothing saved: what this machine allows right now."""
    from annotations.generation import ChatCompletionsClient, GenerationConfig

    config = GenerationConfig(base_url=base_url, model="fixture-model", concurrency=concurrency)
    with ChatCompletionsClient(config) as client, ThreadPoolExecutor(max_workers=concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(client.complete, (f"prompt {i}" for i in range(requests))))
        return requests / (time.perf_counter() - started)


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

    call_command("migrate", verbosity=0)
    Project.objects.filter(slug="bench-generation").delete()
    # The fixture server runs in its own process, as a real LLM server would.
    server = subprocess.Popen([sys.executable, str(ROOT / "tests" / "llm_server.py"), "--latency", str(args.latency)],
                              stdout=subprocess.PIPE, text=True)
    try:
        base_url = server.stdout.readline().strip()
        project = Project.objects.create(
            slug="bench-generation", name="bench", generation_enabled=True, target_completions=args.target,
            llm_base_url=base_url, llm_model="fixture-model", generation_concurrency=args.concurrency,
        )
        Prompt.objects.bulk_create(Prompt(project=project, text=f"bench prompt {i}") for i in range(args.prompts))
        started = time.perf_counter()
        job = run_generation(project.pk)
        elapsed = time.perf_counter() - started
        stored = Completion.objects.filter(prompt__project=project).count()
        http_rate = http_only_rate(base_url, args.concurrency, job.done)
    finally:
        server.terminate()
        server.wait()
    ideal = args.concurrency / args.latency
    rate = job.done / elapsed
    print(f"generated {job.done} completions ({job.failed} failed, {stored} stored) in {elapsed:.2f} s = "
          f"{rate:.1f} completions/s; ideal {ideal:.0f}/s; {rate / ideal:.0%} of ideal")
    print(f"reference, same client and server without the database: {http_rate:.1f} requests/s "
          f"({http_rate / ideal:.0%} of ideal); the job reaches {rate / http_rate:.0%} of it")
    project.delete()


if __name__ == "__main__":
    main()
