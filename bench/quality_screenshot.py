"""Screenshots of the quality page for the README (docs/screenshots/quality-page.png,
quality-leaderboard.png and prompt-rankings.png).

Builds a throw-away site (the embedded PostgreSQL in a temporary directory), fills a project with the synthetic
crowd of bench/quality.py (40 labelers, 4 of them misreaders, 30 rankings each, canaries on 10% of
the prompts, adaptive overlap on: k = 3, up to 5 labelers below 0.6 agreement, completions from four
models of known strength) through the real labeling functions (next_assignment, submit_ranking), serves it with
`manage.py runserver` and photographs it with Debian's Chromium through Playwright:

    .venv/bin/python bench/quality_screenshot.py [--out docs/screenshots]
"""

import argparse
import contextlib
import math
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
SLUG = "quality-demo"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


def populate(labelers: int = 40, rankings_each: int = 30) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import quality as sim
    from django.contrib.auth import get_user_model

    from annotations.assignment import next_assignment, submit_ranking
    from annotations.canaries import add_canaries
    from annotations.models import Completion, Prompt
    from annotations.projects import create_project
    from annotations.roles import grant_role

    rng = random.Random(7)
    project = create_project(SLUG, name="Helpfulness, quality demo", instructions="# Rank by helpfulness",
                             canaries_enabled=True, canary_share=0.1, max_labelers_per_prompt=5, agreement_target=0.6)
    # Which model wrote the completion of each true rank: stronger models land higher more often
    # (Bradley–Terry draws), so the leaderboard has a known order; better answers are a bit longer.
    strength = {"qwen2.5-72b": 1.2, "llama-3.1-70b": 0.8, "mistral-7b": 0.0, "phi-3-mini": -0.5}
    crowd = sim.make_crowd(labelers, rng)
    for i in range(labelers * rankings_each // 3):
        n = rng.randint(3, 6)
        prompt = Prompt.objects.create(project=project, text=f"Question {i + 1}: how do I keep basil alive indoors?",
                                       num_completions=n)
        # A Plackett–Luce draw (strength + Gumbel noise, best first): Bradley–Terry on every pair.
        models = sorted(strength, key=lambda m: -(strength[m] - math.log(-math.log(rng.random()))))
        Completion.objects.bulk_create(
            Completion(prompt=prompt, position=p, model=models[(p - 1) % len(models)],
                       text=f"Answer {p} (true rank {p}) to question {i + 1}." + " More detail." * (n - p))
            for p in range(1, n + 1)
        )
    add_canaries(project.pk)
    User = get_user_model()
    admin = User.objects.create_user("ada", password=PASSWORD)
    grant_role(admin, "admin")
    users = []
    for labeler in crowd:
        user = User.objects.create_user(f"{labeler.kind}-{labeler.id:02d}", password=PASSWORD)
        grant_role(user, "labeler", project)
        users.append((labeler, user))
    for _ in range(rankings_each):
        rng.shuffle(users)  # labelers come and go in no fixed order
        for labeler, user in users:
            task = next_assignment(project, user)
            if task is None:
                continue
            by_position = dict(Completion.objects.filter(prompt_id=task.prompt_id).values_list("position", "pk"))
            canary = Completion.objects.filter(prompt_id=task.prompt_id, source="canary").values_list("pk", flat=True)
            canary = next(iter(canary), None)
            real = [by_position[p] for p in sorted(by_position) if by_position[p] != canary]
            judgement = sim.judge(sim.SimPrompt(len(real), None), labeler, rng)
            tiers = [[real[cid] for cid in tier] for tier in judgement.tiers]
            flagged = [real[cid] for cid in judgement.flagged]
            if canary is not None:
                if labeler.kind == "misreader":
                    tiers.insert(0, [canary])
                elif rng.random() < labeler.flag_nonsense:
                    flagged.append(canary)
                else:
                    tiers.append([canary])
            submit_ranking(task.pk, user, tiers=tiers, flagged=flagged,
                           duration_ms=int(rng.lognormvariate(10.3, 0.5)))


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
        sys.path.insert(0, str(ROOT))
        manage = [sys.executable, str(ROOT / "manage.py")]
        stack.enter_context(embedded_db.running(Path(var_dir)))
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], check=True)
        import django

        django.setup()
        populate()
        sys.path.insert(0, str(ROOT / "bench"))
        from labeling_setup import free_port
        from playwright.sync_api import sync_playwright

        from annotations.models import Prompt

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
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(f"{base}/accounts/login/?next=/projects/{SLUG}/quality/")
                page.fill("#id_username", "ada")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(f"{base}/projects/{SLUG}/quality/")
                page.screenshot(path=out / "quality-page.png", full_page=True)
                page.locator('[data-quality="leaderboard"]').screenshot(path=out / "quality-leaderboard.png")
                link = page.locator("[data-prompt-link]").first.get_attribute("href")
                page.goto(base + link)
                page.screenshot(path=out / "prompt-rankings.png", full_page=True)
                browser.close()
            print(f"{Prompt.objects.count()} prompts; screenshots in {out}")
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
