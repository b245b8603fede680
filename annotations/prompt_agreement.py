"""A prompt's stored agreement (`Prompt.agreement`), kept current as its rankings are stored or
revised, so that the prompts browser can list "disputed" prompts without recomputing a project.

The measure is the quality report's per-prompt figure: pairwise agreement of the prompt's
rankings (latest revisions, the canary completion left out), NULL below two rankings."""

from .consensus import Judgement, prompt_pairwise_agreement, strip_completions
from .models import Ranking


def prompt_agreement(prompt_id: int, canary_id: int | None, adding: Judgement | None = None) -> float | None:
    """The prompt's agreement from its stored rankings (one read, on the prompt's index), with
    `adding` counted as one more (a ranking about to be stored). Call inside the transaction
    that changes a ranking, after locking the prompt's row, so that a concurrent change of
    another ranking of the same prompt is either seen here or sees this one."""
    judgements = [
        Judgement(tiers, flagged)
        for tiers, flagged in Ranking.objects.filter(prompt_id=prompt_id).order_by().values_list("tiers", "flagged")
    ]
    if adding is not None:
        judgements.append(adding)
    if canary_id is not None:
        judgements = [strip_completions(judgement, {canary_id}) for judgement in judgements]
    return prompt_pairwise_agreement(judgements)


def store_prompt_agreement(prompt_id: int, canary_id: int | None) -> float | None:
    """Recompute and store the prompt's agreement, with the rest of its stored quality figures
    (quality_store.store_prompt_stats: one read, at most two writes); see prompt_agreement."""
    from .quality_store import store_prompt_stats

    return store_prompt_stats(prompt_id, canary_id).agreement
