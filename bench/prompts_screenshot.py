"""Screenshots of the prompts browser for the README (docs/screenshots/prompts.png and
prompt-detail.png).

Builds a throw-away site (the embedded PostgreSQL in a temporary directory), fills a project with 120 prompts,
three labelers ranking the first 60 through the real labeling functions (next_assignment,
submit_ranking), a few failed generations, serves it with `manage.py runserver` and photographs
it as a researcher with Debian's Chromium through Playwright:

    .venv/bin/python bench/prompts_screenshot.py [--out docs/screenshots]
"""

import argparse
import contextlib
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-only-password"
SLUG = "helpful"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
QUESTIONS = [
    "How do I keep basil alive indoors through the winter?",
    "Explain what a monad is to someone who knows Python but not Haskell.",
    "Write a polite email declining a meeting invitation because of a schedule conflict.",
    "What is the difference between a list and a tuple in Python?",
    "Summarize the causes of the French Revolution in three sentences.",
    "Is it safe to leave a lithium battery charging overnight?",
    "Give me a vegetarian dinner recipe that takes under 30 minutes.",
    "Why is the sky blue? Answer for a ten-year-old.",
]
MODELS = ["llama-3.1-8b-instruct", "qwen2.5-7b-instruct"]


def populate(prompts: int = 120, ranked: int = 60) -> None:
    from django.contrib.auth import get_user_model

    from annotations.assignment import next_assignment, submit_ranking
    from annotations.consensus import Judgement, pairwise_agreement
    from annotations.models import Completion, Prompt, Ranking
    from annotations.projects import create_project
    from annotations.roles import grant_role

    rng = random.Random(11)
    project = create_project(SLUG, name="Helpfulness", instructions="# Rank by helpfulness")
    for i in range(prompts):
        question = QUESTIONS[i % len(QUESTIONS)]
        failed = i % 29 == 17
        prompt = Prompt.objects.create(
            project=project, external_id=f"hh-{i + 1:04d}", text=f"{question} (variant {i + 1})",
            num_completions=0 if failed else 4,
            generation_error="LLM server answered 503 Service Unavailable after 3 attempts" if failed else "",
            generation_attempts=3 if failed else 0,
        )
        if not failed:
            Completion.objects.bulk_create(
                Completion(prompt=prompt, position=p, text=f"Answer {p} to “{question}” — " + "some detail. " * (p + 2),
                           source=Completion.Source.GENERATED, model=MODELS[p % 2], params={"temperature": 1.0})
                for p in range(1, 5)
            )
    User = get_user_model()
    grant_role(User.objects.create_user("rita", password=PASSWORD), "researcher", project)
    labelers = []
    for name in ("alice", "bob", "carol"):
        user = User.objects.create_user(name, password=PASSWORD)
        grant_role(user, "labeler", project)
        labelers.append(user)
    for labeler in labelers:
        for _ in range(ranked):
            task = next_assignment(project, labeler)
            if task is None:
                break
            ids = sorted(cid for cid, _ in task.shown_completions)  # by position: the labelers mostly agree
            if rng.random() < 0.25:
                rng.shuffle(ids)
            flagged = [ids.pop()] if rng.random() < 0.1 else []
            submit_ranking(task.pk, labeler, tiers=[[cid] for cid in ids], flagged=flagged,
                           duration_ms=int(rng.lognormvariate(10.3, 0.5)))
    # The stored agreement (normally written on submission), from each prompt's rankings.
    for prompt in Prompt.objects.filter(project=project, num_rankings__gte=2):
        judgements = [Judgement(r.tiers, r.flagged) for r in Ranking.objects.filter(prompt=prompt)]
        Prompt.objects.filter(pk=prompt.pk).update(agreement=pairwise_agreement(judgements).share)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    from labelhub import embedded_db

    with tempfile.TemporaryDirectory() as var_dir, contextlib.ExitStack() as stack:
        for name in ("DATABASE_URL", "REDIS_URL"):
            os.environ.pop(name, None)
        os.environ.update(LABELHUB_VAR_DIR=var_dir, DEBUG="true", CELERY_TASK_ALWAYS_EAGER="true",
                          DJANGO_SETTINGS_MODULE="labelhub.settings")
        manage = [sys.executable, str(ROOT / "manage.py")]
        stack.enter_context(embedded_db.running(Path(var_dir)))
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], check=True)
        import django

        django.setup()
        populate()
        sys.path.insert(0, str(ROOT / "bench"))
        from labeling_setup import free_port
        from playwright.sync_api import sync_playwright

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([*manage, "runserver", "--noreload", f"127.0.0.1:{port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    urllib.request.urlopen(f"{base}/accounts/login/", timeout=1)  # noqa: S310 - local URL
                    break
                except OSError:
                    time.sleep(0.2)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(f"{base}/accounts/login/?next=/projects/{SLUG}/prompts/")
                page.fill("#id_username", "rita")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/projects/{SLUG}/prompts/")
                page.get_by_label("Search").fill("basil")
                page.get_by_role("button", name="Search").click()
                page.wait_for_url("**q=basil**")
                page.screenshot(path=out / "prompts.png", full_page=True)
                page.get_by_label("Disputed", exact=True).check()
                page.get_by_role("button", name="Search").click()
                page.wait_for_url("**disputed=1**")
                page.locator("[data-prompt-link]").first.click()
                page.wait_for_selector("[data-rankings-side-by-side]")
                page.screenshot(path=out / "prompt-detail.png", full_page=True)
                browser.close()
            print(f"screenshots in {out}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
