"""A prompt's stored agreement (`Prompt.agreement`), kept current as its rankings are stored or
revised, so that the prompts browser can list "disputed" prompts without recomputing a project.

The measure is the quality report's per-prompt figure: pairwise agreement of the prompt's
rankings (latest revisions, the canary completion left out), NULL below two rankings."""

from .consensus import Judgement, prompt_pairwise_agreement, strip_completions
from .models import Prompt, Ranking


def store_prompt_agreement(prompt_id: int, canary_id: int | None) -> float | None:
    """Recompute and store the prompt's agreement from its rankings (one indexed read, one write).
    Call inside the transaction that changed a ranking, after locking the prompt's row (the
    counter update of a submission, or select_for_update), so that a concurrent change of another
    ranking of the same prompt is either seen here or sees this one."""
    judgements = [
        Judgement(tiers, flagged)
        for tiers, flagged in Ranking.objects.filter(prompt_id=prompt_id).order_by().values_list("tiers", "flagged")
    ]
    if canary_id is not None:
        judgements = [strip_completions(judgement, {canary_id}) for judgement in judgements]
    agreement = prompt_pairwise_agreement(judgements)
    Prompt.objects.filter(pk=prompt_id).update(agreement=agreement)
    return agreement
