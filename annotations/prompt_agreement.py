"""A prompt's stored agreement (`Prompt.agreement`), kept current as its rankings are stored or
revised, so that the prompts browser can list "disputed" prompts without recomputing a project.

The measure is the quality report's per-prompt figure: pairwise agreement of the prompt's
rankings (latest revisions, the canary completion left out), NULL below two rankings; in a thumbs
project, the share of labelers on the majority side per completion (thumbs.py)."""

from .consensus import Judgement, prompt_pairwise_agreement, strip_completions
from .models import Project, Ranking
from .thumbs import prompt_thumbs_agreement


def prompt_agreement(
    prompt_id: int, canary_id: int | None, adding: Judgement | None = None, thumbs: bool = False
) -> float | None:
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
    if thumbs:  # [ups, downs] by position: the canary is left out by id, never by dropping a tier
        return prompt_thumbs_agreement(judgements, removed=[canary_id] if canary_id is not None else [])
    if canary_id is not None:
        judgements = [strip_completions(judgement, {canary_id}) for judgement in judgements]
    return prompt_pairwise_agreement(judgements)


def store_prompt_agreement(
    prompt_id: int, canary_id: int | None, project: Project | None = None, rankings: int | None = None,
    thumbs: bool = False,
) -> float | None:
    """Recompute and store the prompt's agreement, with the rest of its stored quality figures
    (quality_store.store_prompt_stats: one read, at most two writes); see prompt_agreement.
    Given the project and the prompt's number of rankings, adaptive overlap's decision
    (wanted_rankings) is stored with it, from the same agreement: a revision may settle a dispute
    or open one."""
    from .quality_store import store_prompt_stats

    return store_prompt_stats(prompt_id, canary_id, project, rankings, thumbs=thumbs).agreement
