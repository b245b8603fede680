"""A task through a real Celery worker on Redis (skips without REDIS_URL)."""

from annotations.models import Prompt
from annotations.tasks import recount_project

from .factories import make_project, make_prompt


def test_recount_runs_in_a_real_worker_and_repairs_counters(celery_worker):
    project = make_project("recount")
    prompt = make_prompt(project, 4)
    Prompt.objects.filter(pk=prompt.pk).update(num_completions=0, num_rankings=7)
    result = recount_project.delay(project.pk).get(timeout=30)
    assert result == {"project": project.pk, "prompts": 1}
    prompt.refresh_from_db()
    assert (prompt.num_completions, prompt.num_rankings) == (4, 0)
    # Idempotent: a second run changes nothing.
    recount_project.delay(project.pk).get(timeout=30)
    prompt.refresh_from_db()
    assert (prompt.num_completions, prompt.num_rankings) == (4, 0)


def test_recount_runs_eagerly_or_in_the_worker_with_the_same_code(db):
    project = make_project("recount-eager")
    prompt = make_prompt(project, 3)
    Prompt.objects.filter(pk=prompt.pk).update(num_completions=9)
    recount_project.apply(args=[project.pk])
    prompt.refresh_from_db()
    assert prompt.num_completions == 3
