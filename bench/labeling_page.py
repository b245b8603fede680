"""Benchmark: how quickly the labeling page turns over tasks, measured inside a real browser.

    .venv/bin/python bench/labeling_page.py [--tasks 100] [--completions 4] [--chars 1500]
        [--database-url postgres://postgres@127.0.0.1:5432/lh_browser_bench]

Builds a fresh site (the PostgreSQL database given is dropped and created again; without one, the
embedded PostgreSQL in a temporary directory), a project of --tasks prompts with --completions completions of about
--chars characters each, and serves it with `manage.py runserver` (single process: this measures the
page, not the server's throughput; bench/labeling_loop.py does that). Debian's Chromium then ranks
every task by keyboard (J, Enter). Reported, from the page's own clock (performance.now()):
- first task: navigation start → first task's prompt on screen;
- turnover: Enter → the next task's prompt on screen (POST ranking + POST next + rendering), p50/p95/max,
  and the two requests' own durations (Resource Timing).
"""

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from playwright.sync_api import expect, sync_playwright
from screenshots import CHROMIUM_ARGS, ROOT, free_port, wait_for_server

PASSWORD = "bench-only-password"
SLUG = "page-bench"

WORDS = [
    "the", "model", "answer", "explains", "each", "step", "with", "care", "and", "gives", "a", "short",
    "example", "before", "it", "sums", "up", "what", "matters", "most", "for", "the", "user", "who", "asked",
]


def write_prompts(path: Path, tasks: int, completions: int, chars: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(tasks):
            texts = []
            for j in range(completions):
                words, length = [], 0
                while length < chars:
                    word = WORDS[(i * 7 + j * 3 + len(words)) % len(WORDS)]
                    words.append(word + ("\n" if len(words) % 18 == 17 else " "))
                    length += len(words[-1])
                texts.append("".join(words).strip())
            out.write(json.dumps({"id": f"p{i}", "prompt": f"Question {i}: how should I do thing {i}?",
                                  "completions": texts}) + "\n")


def percentile(sorted_values: list[float], fraction: float) -> float:
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


def reset_postgres(url: str) -> None:
    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = ["psql", "-h", parsed.hostname or "127.0.0.1", "-p", str(parsed.port or 5432),
             "-U", parsed.username or "postgres", "-d", "postgres", "-q"]
    subprocess.run([*admin, "-c", f'drop database if exists "{name}"'], check=True)
    subprocess.run([*admin, "-c", f'create database "{name}"'], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=100)
    parser.add_argument("--completions", type=int, default=4)
    parser.add_argument("--chars", type=int, default=1500)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from labelhub import embedded_db

    with tempfile.TemporaryDirectory() as var_dir, contextlib.ExitStack() as stack:
        if not args.database_url:
            stack.enter_context(embedded_db.running(Path(var_dir)))
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        env.update(LABELHUB_VAR_DIR=var_dir, DEBUG="true")  # runserver serves the static files only with DEBUG
        if args.database_url:
            reset_postgres(args.database_url)
            env["DATABASE_URL"] = args.database_url
        manage = [sys.executable, str(ROOT / "manage.py")]
        prompts_file = Path(var_dir) / "prompts.jsonl"
        write_prompts(prompts_file, args.tasks, args.completions, args.chars)
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, check=True)
        subprocess.run([*manage, "create_project", SLUG, "--labelers-per-prompt", "1"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run([*manage, "add_user", "bench", "--role", "labeler", "--project", SLUG, "--password", PASSWORD],
                       env=env, check=True, stdout=subprocess.DEVNULL)
        subprocess.run([*manage, "import_prompts", str(prompts_file), "--project", SLUG], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_server(base)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                page.goto(f"{base}/accounts/login/?next=/projects/{SLUG}/label/")
                page.fill("#id_username", "bench")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/projects/{SLUG}/label/")
                first_card = page.locator("[data-rank-list] [data-completion-id]").first
                expect(first_card).to_be_focused()
                page.reload()
                expect(first_card).to_be_focused()
                first_task_ms = page.evaluate("performance.now()")  # since navigation start
                page.evaluate("""() => {
                    window.__marks = [];
                    new MutationObserver(() => window.__marks.push(["shown", performance.now()]))
                        .observe(document.querySelector("[data-prompt]"), {childList: true});
                    document.addEventListener("keydown", (event) => {
                        if (event.key === "Enter") window.__marks.push(["enter", performance.now()]);
                    }, true);
                }""")
                started = time.perf_counter()
                for done in range(1, args.tasks + 1):
                    expect(page.locator('[data-bench][data-inflight="0"]')).to_be_attached()
                    expect(first_card).to_be_focused()
                    page.keyboard.press("j")
                    page.keyboard.press("Enter")
                    expect(page.locator("[data-session-count]")).to_have_text(str(done))
                expect(page.locator("[data-empty]")).to_be_visible()
                wall = time.perf_counter() - started
                marks = page.evaluate("window.__marks")
                requests = page.evaluate("""performance.getEntriesByType("resource")
                    .filter((entry) => entry.initiatorType === "fetch")
                    .map((entry) => [entry.name.includes("/ranking/") ? "ranking" : "next", entry.duration])""")
                browser.close()
        finally:
            server.terminate()
            server.wait(timeout=10)

    turnovers, pressed = [], None
    for kind, at in marks:
        if kind == "enter":
            pressed = at
        elif pressed is not None:
            turnovers.append(at - pressed)
            pressed = None
    turnovers.sort()
    p95 = percentile(turnovers, 0.95)
    database = "PostgreSQL" if args.database_url else "embedded PostgreSQL"
    print(f"labeling page, {database}, runserver, {args.tasks} tasks × {args.completions} completions × "
          f"~{args.chars} chars")
    print(f"first task on screen: {first_task_ms:.0f} ms after navigation start")
    print(f"turnover (Enter → next prompt shown), {len(turnovers)} tasks: p50 {statistics.median(turnovers):.1f} ms, "
          f"p95 {p95:.1f} ms, max {turnovers[-1]:.1f} ms")
    for kind in ("ranking", "next"):
        durations = sorted(duration for name, duration in requests if name == kind)
        print(f"  of which POST {kind}: p50 {statistics.median(durations):.1f} ms, "
              f"p95 {percentile(durations, 0.95):.1f} ms ({len(durations)} requests)")
    print(f"whole run with Playwright's round trips: {wall:.1f} s ({wall / args.tasks * 1000:.0f} ms per task)")


if __name__ == "__main__":
    main()
