"""Celery tasks: thin wrappers that take ids and call plain functions. Each is idempotent."""

from celery import shared_task
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from .models import Completion, Prompt, Ranking


@shared_task(acks_late=True)
def recount_project(project_id: int) -> dict:
    """Recompute the prompts' denormalised counters from the rows themselves (safe to repeat)."""
    def count_per_prompt(model):
        rows = model.objects.filter(prompt=OuterRef("pk")).order_by().values("prompt")
        return Subquery(rows.annotate(n=Count("pk")).values("n"))

    completions, rankings = count_per_prompt(Completion), count_per_prompt(Ranking)
    updated = Prompt.objects.filter(project_id=project_id).update(
        num_completions=Coalesce(completions, 0),
        num_rankings=Coalesce(rankings, 0),
    )
    return {"project": project_id, "prompts": updated}
