"""Screenshots of the instructions and team pages for the README (docs/screenshots/instructions.png
and team.png), taken with Debian's Chromium through Playwright.

Needs a PostgreSQL database it may write to (DATABASE_URL): it migrates it, replaces the project
"screens-helpful" and its users, publishes three versions of the instructions with rankings under
the first two, serves the site with `manage.py runserver` and photographs it as a project admin:

    DATABASE_URL=postgres://... .venv/bin/python bench/team_screenshots.py [--out docs/screenshots]
"""

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-only-password"
SLUG = "screens-helpful"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]
V1 = """# Rank by helpfulness

Read the prompt, then put the most helpful answer first.

- Ties are fine when two answers are equally good.
- Flag an answer that is nonsense or off-topic."""
V2 = V1.replace("- Ties are fine", "- A correct, short answer beats a long, padded one.\n- Ties are fine")
V3 = V2 + "\n- An answer in another language than the prompt's is flagged, not ranked."
USERS = {"pam": "admin", "quinn": "admin", "rita": "researcher", "alice": "labeler", "bob": "labeler",
         "carol": "labeler"}


def populate() -> None:
    from django.contrib.auth import get_user_model

    from annotations.assignment import next_assignment, submit_ranking
    from annotations.models import Completion, InstructionVersion, Project, Prompt, Ranking
    from annotations.projects import create_project, set_instructions
    from annotations.roles import grant_role
    from annotations.team import add_member, create_invite

    User = get_user_model()
    Project.objects.filter(slug=SLUG).delete()
    User.objects.filter(username__startswith="screens-").delete()
    project = create_project(SLUG, name="Helpfulness", instructions=V1)
    users = {}
    for name, role in USERS.items():
        users[name] = User.objects.create_user(f"screens-{name}", password=PASSWORD)
        grant_role(users[name], role, project)
    add_member(project, "screens-rita", "labeler")
    for i in range(12):
        prompt = Prompt.objects.create(project=project, text=f"Question {i}", num_completions=3)
        Completion.objects.bulk_create(Completion(prompt=prompt, position=p, text=f"Answer {p}") for p in (1, 2, 3))
    for version, text, rounds in ((1, V1, 7), (2, V2, 5)):
        if version > 1:
            set_instructions(project, text)
        for labeler in (users["alice"], users["bob"], users["carol"]):
            for _ in range(rounds):
                task = next_assignment(project, labeler)
                if task is None:
                    break
                ids = [cid for cid, _ in task.shown_completions]
                submit_ranking(task.pk, labeler, tiers=[[cid] for cid in ids], flagged=[], duration_ms=20_000,
                               instruction_version=version)
    set_instructions(project, V3)
    create_invite(project, "labeler", created_by=users["pam"])
    assert InstructionVersion.objects.filter(project=project).count() == 3
    print("rankings:", Ranking.objects.filter(project=project).count())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        sys.exit("DATABASE_URL is not set: give a PostgreSQL database this script may write to")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ.update(DEBUG="true", CELERY_TASK_ALWAYS_EAGER="true", DJANGO_SETTINGS_MODULE="labelhub.settings")
    sys.path.insert(0, str(ROOT))
    manage = [sys.executable, str(ROOT / "manage.py")]
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
            page.goto(f"{base}/accounts/login/?next=/projects/{SLUG}/instructions/")
            page.fill("#id_username", "screens-pam")
            page.fill("#id_password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/projects/{SLUG}/instructions/")
            editor = page.get_by_label("New version")
            editor.fill(V3 + "\n- **Safety first**: an answer that helps with harm goes last.")
            page.wait_for_function("() => document.querySelector('[data-instructions-form]').dataset.previewState"
                                   " === 'ready'")
            page.screenshot(path=out / "instructions.png", full_page=True)
            page.goto(f"{base}/projects/{SLUG}/team/")
            page.get_by_label("Invite as").select_option("labeler")
            page.get_by_role("button", name="Create invite link").click()
            page.wait_for_selector("[data-invite-url]")
            page.screenshot(path=out / "team.png", full_page=True)
            browser.close()
        print(f"screenshots in {out}")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
