"""Quality figures of a project: agreement, per-labeler scores, canaries, possible misreaders.

Fetches rankings in a few queries and hands plain data to the pure functions of consensus.py.

Canaries (Completion.source == "canary") are known-bad completions added to measure labelers.
They are removed from every judgement before consensus and agreement are computed
(`judgements_by_prompt`), so they never distort them, and they count only for the canary pass
rate. Exports must leave them out too: filter `Completion.source != "canary"` (or strip the ids
of `canary_ids(project)` from each ranking, as `judgements_by_prompt` does) before making pairs.
"""

import hashlib
import itertools
import json
import statistics
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from operator import itemgetter

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, Q, QuerySet, TextField
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone

from .adaptive import complete_for
from .assignment import MIN_COMPLETIONS
from .consensus import (
    Judgement,
    LabelerScore,
    RankValueTable,
    ShapedPrompt,
    ShapeMeasures,
    _left_out,
    kendalls_w,
    pairwise_agreement,
    rounds_of_distrust,
    score_shaped_labelers,
    shaped_prompt,
    strip_completions,
    wilson_interval,
)
from .models import Completion, Project, Prompt, Ranking
from .quality_stats import (
    CANARY_PASSED,
    ShapeFigures,
    canary_passed,
    exact_average,
    exact_mean,
    judgement_figures,
    loo_share,
    parse_shape_key,
    pooled_ordinal_alpha,
    shape_figures,
)
from .thumbs import canary_passed as thumbs_canary_passed
from .thumbs import majority_share, nominal_alpha, vote_counts

__all__ = [
    "LabelerScore",
    "QualityReport",
    "canary_ids",
    "judgements_by_prompt",
    "labeler_agreement",
    "labeler_pseudonym",
    "quality_report",
    "recomputed_labeler_agreement",
    "recomputed_quality_report",
]


def labeler_pseudonym(project: Project, user_id: int) -> str:
    """A labeler's stable name in one project's exports and API: never the username, and
    different in each project (the project's secret salt goes into the hash)."""
    digest = hashlib.sha256(f"{project.pseudonym_salt}:{user_id}".encode()).hexdigest()
    return f"labeler-{digest[:8]}"


def canary_ids(project: Project) -> dict[int, int]:
    """Canary completion id → its prompt id, for the whole project (one query)."""
    rows = Completion.objects.filter(prompt__project=project, source=Completion.Source.CANARY)
    return dict(rows.values_list("pk", "prompt_id"))


def judgements_by_prompt(project: Project, canaries: set[int] | None = None) -> dict[int, list[tuple[int, Judgement]]]:
    """Prompt id → [(labeler id, judgement without canaries)], every submitted ranking (two queries)."""
    canaries = set(canary_ids(project)) if canaries is None else canaries
    prompts: dict[int, list[tuple[int, Judgement]]] = defaultdict(list)
    rows = Ranking.objects.filter(project=project).order_by("prompt_id", "pk")
    for prompt_id, labeler_id, tiers, flagged in rows.values_list("prompt_id", "labeler_id", "tiers", "flagged"):
        judgement = Judgement(tiers, flagged)
        if canaries:
            judgement = strip_completions(judgement, canaries)
        prompts[prompt_id].append((labeler_id, judgement))
    return prompts


def recomputed_labeler_agreement(project: Project) -> dict[int, LabelerScore]:
    """User id → agreement with the leave-one-out consensus (ranked pairs, made without the
    labelers found to be possible misreaders), 0..1, with the number of rankings compared and a
    95% Wilson interval. Canaries are left out. A labeler is absent
    when none of their rankings could be compared yet (no other ranking of the same prompt, or
    the others' consensus orders nothing): their agreement is unknown, not zero. Recomputed from
    every ranking: the reference of labeler_agreement (the stored figures)."""
    canaries = set(canary_ids(project))
    measures = ShapeMeasures()
    shaped = []
    for _, prompt_rankings in itertools.groupby(_ranking_rows(project, "labeler_id", "tiers", "flagged"),
                                                 key=itemgetter(0)):
        ranked = []
        for _, labeler_id, tiers, flagged in prompt_rankings:
            judgement = Judgement(json.loads(tiers), json.loads(flagged))
            ranked.append((labeler_id, strip_completions(judgement, canaries) if canaries else judgement))
        shaped.append(shaped_prompt(ranked, measures))
    return score_shaped_labelers(shaped, measures)[0]


# --- The quality report: the numbers of the quality page and of the agreement endpoint ----------


@dataclass
class LabelerRow:
    user_id: int
    username: str
    pseudonym: str
    rankings: int
    median_seconds: float | None
    ties_rate: float | None  # share of rankings with at least one tie
    flag_rate: float | None  # share of judged completions flagged (canaries left out)
    canaries_seen: int
    canary_pass_rate: float | None  # canary ranked alone in the last tier, or flagged
    score: LabelerScore | None
    possible_misreader: bool = False


@dataclass
class PromptRow:
    prompt_id: int
    text: str
    rankings: int
    pairwise_agreement: float
    kendalls_w: float | None


@dataclass
class OverlapFigures:
    """Adaptive overlap at work: the prompts that took labelers beyond k, and the mean pairwise
    agreement of those prompts from their first k rankings (submission order, latest revisions)
    and from all of them now."""

    prompts_beyond_k: int = 0
    agreement_at_k: float | None = None
    agreement_now: float | None = None
    compared: int = 0  # prompts beyond k with an agreement both ways

    @property
    def rise(self) -> float | None:
        if self.agreement_at_k is None or self.agreement_now is None:
            return None
        return self.agreement_now - self.agreement_at_k


@dataclass
class QualityReport:
    prompts_total: int
    prompts_complete: int
    prompts_in_progress: int
    prompts_waiting: int
    prompts_without_completions: int
    rankings: int
    rankings_per_day: list[tuple[date, int]]
    pairwise_agreement: float | None
    kendalls_w: float | None
    krippendorff_alpha: float | None
    # Pairwise agreement of each prompt with two or more rankings → how many prompts have it.
    agreement_counts: dict[float, int]
    labelers: list[LabelerRow]
    most_disagreement: list[PromptRow] = field(default_factory=list)
    overlap: OverlapFigures = field(default_factory=OverlapFigures)

    @property
    def possible_misreaders(self) -> list[LabelerRow]:
        return [row for row in self.labelers if row.possible_misreader]

    @property
    def prompts_compared(self) -> int:
        return sum(self.agreement_counts.values())


def progress_counts(project: Project) -> dict[str, int]:
    """Prompts complete (k rankings at the agreement target, or the maximum: adaptive.complete),
    in progress (some ranking or reservation), waiting (ready for labelers, untouched) and without
    completions (fewer than two); and the prompts that took labelers beyond k: one query."""
    k = project.labelers_per_prompt
    ready = Q(num_completions__gte=MIN_COMPLETIONS)
    done = complete_for(project)
    return Prompt.objects.filter(project=project).aggregate(
        total=Count("pk"),
        complete=Count("pk", filter=done),
        in_progress=Count("pk", filter=ready & ~done & (Q(num_rankings__gt=0) | Q(num_reserved__gt=0))),
        waiting=Count("pk", filter=ready & Q(num_rankings=0, num_reserved=0)),
        without_completions=Count("pk", filter=~ready & Q(num_rankings__lt=k)),
        beyond_k=Count("pk", filter=Q(num_rankings__gt=k)),
    )


# Rankings are read in chunks of this many rows (a server-side cursor on PostgreSQL): the report
# keeps per-prompt shapes and counts, never all the rows at once.
RANKING_CHUNK = 5000


def _ranking_rows(project: Project, *columns: str):
    """(prompt id, *columns) of every ranking, by prompt then submission, streamed. The JSON
    columns (tiers, flagged, shown_order) come as text, for the caller to decode what it needs:
    Django's per-value JSON converters cost a third of the report's time at 300,000 rankings."""
    as_text = {name: Cast(name, TextField()) for name in ("tiers", "flagged", "shown_order") if name in columns}
    queryset = Ranking.objects.filter(project=project).order_by("prompt_id", "pk")
    if as_text:
        queryset = queryset.annotate(**{f"{name}_text": value for name, value in as_text.items()})
    selected = [f"{name}_text" if name in as_text else name for name in columns]
    return queryset.values_list("prompt_id", *selected).iterator(chunk_size=RANKING_CHUNK)


def _least_agreement(rows: list[PromptRow], limit: int) -> list[PromptRow]:
    """The `limit` prompts of least agreement (ties: more rankings first, then by id, so the
    order is total and trimming as rows arrive keeps the same ones)."""
    return sorted(rows, key=lambda row: (row.pairwise_agreement, -row.rankings, row.prompt_id))[:limit]


def recomputed_quality_report(project: Project, disagreement_limit: int = 20) -> QualityReport:
    """quality_report computed from every ranking (five queries, and every prompt recomputed):
    the reference the stored figures are tested against (tests/test_quality_stored.py)."""
    canaries = canary_ids(project)
    canary_set = set(canaries)
    rows = _ranking_rows(project, "labeler_id", "tiers", "flagged", "shown_order", "duration_ms", "submitted_at")
    stats: dict[int, dict] = {}
    per_day: Counter = Counter()
    local = timezone.get_current_timezone()  # timezone.localdate looks it up again for every ranking
    canary_of_prompt = {prompt_id: cid for cid, prompt_id in canaries.items()}
    measures = ShapeMeasures()
    shaped: list[ShapedPrompt] = []  # for the labeler scores (several rounds)
    rank_values = RankValueTable()  # for Krippendorff's alpha
    rankings = 0
    k = project.labelers_per_prompt
    beyond_k: list[tuple[float, float]] = []
    agreeing = compared = 0
    agreement_counts: Counter = Counter()
    thumbs = project.feedback == Project.Feedback.THUMBS
    thumb_units: list[tuple[int, int]] = []  # (ups, downs) per completion, for the nominal alpha
    worst: list[PromptRow] = []  # the prompts of least agreement so far, trimmed as it grows
    ws = []
    for prompt_id, prompt_rankings in itertools.groupby(rows, key=itemgetter(0)):
        canary = canary_of_prompt.get(prompt_id)
        ranked: list[tuple[int, Judgement]] = []
        raws: list[Judgement] = []
        for _, labeler_id, tiers, flagged, shown, duration_ms, submitted_at in prompt_rankings:
            raw = Judgement(json.loads(tiers), json.loads(flagged))
            raws.append(raw)
            judgement = strip_completions(raw, canary_set) if canaries else raw
            s = stats.get(labeler_id)
            if s is None:
                s = stats[labeler_id] = {"id": labeler_id, "n": 0, "durations": array("q"), "ties": 0, "flags": 0,
                                         "judged": 0, "canaries": 0, "passed": 0}
            ranked.append((s["id"], judgement))  # one int object per labeler, not one per ranking
            s["n"] += 1
            if duration_ms is not None:
                s["durations"].append(duration_ms)
            if not thumbs:  # [ups, downs] are not ties
                s["ties"] += any(len(tier) > 1 for tier in judgement.tiers)
            s["flags"] += len(judgement.flagged)
            s["judged"] += sum(map(len, judgement.tiers)) + len(judgement.flagged)
            if canary is not None and canary in json.loads(shown):
                s["canaries"] += 1
                s["passed"] += thumbs_canary_passed(raw, canary) if thumbs else canary_passed(raw, canary)
            per_day[submitted_at.astimezone(local).date()] += 1
        rankings += len(ranked)
        judgements = [j for _, j in ranked]
        if len(judgements) > k:  # took labelers beyond k (adaptive overlap): agreement at k and now
            at_k, now = pairwise_agreement(judgements[:k]).share, pairwise_agreement(judgements).share
            if at_k is not None and now is not None:
                beyond_k.append((at_k, now))
        prompt = shaped_prompt(ranked, measures)
        shaped.append(prompt)
        if thumbs:
            # Per completion: the share of its labelers on the majority side (thumbs.py).
            counts = list(vote_counts(raws, removed=canary_set).values())
            thumb_units.extend(counts)
            shares = [majority_share(u, d) for u, d in counts if u + d >= 2]
            if shares:
                agreeing += sum(shares)
                compared += len(shares)
                share = sum(shares) / len(shares)
                agreement_counts[share] += 1
                worst.append(PromptRow(prompt_id, "", len(ranked), share, None))
            continue
        rank_values.add(judgements)
        if len(ranked) < 2:
            continue
        if prompt.shape is not None:
            pair, w = measures.agreement(prompt.shape)
        else:
            pair, w = pairwise_agreement(judgements), kendalls_w(judgements)
        if pair.share is None:
            continue
        agreeing += pair.agreeing
        compared += pair.compared
        if w is not None:
            ws.append(w)
        agreement_counts[pair.share] += 1
        worst.append(PromptRow(prompt_id, "", len(ranked), pair.share, w))
        if len(worst) > 4 * disagreement_limit + 100:
            worst = _least_agreement(worst, disagreement_limit)

    scores, misreaders = score_shaped_labelers(shaped, measures)
    del shaped
    krippendorff_alpha = (nominal_alpha(thumb_units) if thumbs
                          else pooled_ordinal_alpha(rank_values.distinct_rows(), rank_values.top))
    del rank_values
    users = dict(get_user_model().objects.filter(pk__in=stats).values_list("pk", "username"))
    labelers = [
        LabelerRow(
            user_id=user_id,
            username=users.get(user_id, ""),
            pseudonym=labeler_pseudonym(project, user_id),
            rankings=s["n"],
            median_seconds=statistics.median(s["durations"]) / 1000 if s["durations"] else None,
            ties_rate=None if thumbs else s["ties"] / s["n"],
            flag_rate=s["flags"] / s["judged"] if s["judged"] else None,
            canaries_seen=s["canaries"],
            canary_pass_rate=s["passed"] / s["canaries"] if s["canaries"] else None,
            score=scores.get(user_id),
            possible_misreader=user_id in misreaders,
        )
        for user_id, s in stats.items()
    ]
    labelers.sort(key=lambda row: (row.score.agreement if row.score else 2.0, row.username))

    worst = _least_agreement(worst, disagreement_limit)
    texts = dict(Prompt.objects.filter(pk__in=[row.prompt_id for row in worst]).values_list("pk", "text"))
    for row in worst:
        row.text = texts.get(row.prompt_id, "")

    return _report_with_progress(
        project, beyond_k,
        rankings=rankings,
        rankings_per_day=sorted(per_day.items()),
        pairwise_agreement=agreeing / compared if compared else None,
        kendalls_w=statistics.mean(ws) if ws else None,
        krippendorff_alpha=krippendorff_alpha,
        agreement_counts=dict(agreement_counts),
        labelers=labelers,
        most_disagreement=worst,
    )


def _report_with_progress(project: Project, beyond_k: list[tuple[float, float]], **figures) -> QualityReport:
    """The report of `figures` with the project's progress counts and adaptive overlap's figures."""
    progress = progress_counts(project)
    return QualityReport(
        prompts_total=progress["total"],
        prompts_complete=progress["complete"],
        prompts_in_progress=progress["in_progress"],
        prompts_waiting=progress["waiting"],
        prompts_without_completions=progress["without_completions"],
        overlap=_overlap_figures(progress["beyond_k"], beyond_k),
        **figures,
    )


def _overlap_figures(prompts_beyond_k: int, beyond_k: list[tuple[float, float]]) -> OverlapFigures:
    """Adaptive overlap's figures from (agreement at k, agreement now) of the prompts beyond k."""
    return OverlapFigures(
        prompts_beyond_k=prompts_beyond_k,
        agreement_at_k=statistics.mean(a for a, _ in beyond_k) if beyond_k else None,
        agreement_now=statistics.mean(b for _, b in beyond_k) if beyond_k else None,
        compared=len(beyond_k),
    )


def _beyond_k(project: Project, canaries: set[int]) -> list[tuple[float, float]]:
    """(agreement of the first k rankings, agreement of all) of the prompts that took labelers
    beyond k (adaptive overlap), as recomputed_quality_report takes them: only those prompts'
    rankings are read (on prompt_extra_idx's columns), a few when the target is met mostly at k."""
    k = project.labelers_per_prompt
    extra = Prompt.objects.filter(project=project, num_rankings__gt=k).values("pk")
    pairs = []
    for _, ranked in _rankings_of_prompts(project, extra, canaries):
        judgements = [judgement for _, judgement in ranked]
        if len(judgements) > k:
            at_k, now = pairwise_agreement(judgements[:k]).share, pairwise_agreement(judgements).share
            if at_k is not None and now is not None:
                pairs.append((at_k, now))
    return pairs


# --- The same figures from the stored ones (quality_stats.py, quality_store.py) -------------------
#
# What each ranking and prompt contributes is stored when a ranking is stored or revised, so the
# report adds it up in SQL: prompts counted per shape (each shape's figures computed once),
# rankings summed per labeler, leave-one-out agreements counted per labeler and value. Only the
# prompts a possible misreader ranked are read again, to score the others without the misreader.


def _stored_share_counts(project: Project) -> dict[int, Counter]:
    """Labeler → Counter of their rankings' stored leave-one-out agreements (one GROUP BY)."""
    counts: dict[int, Counter] = defaultdict(Counter)
    rows = (Ranking.objects.filter(project=project, loo_share__isnull=False).order_by()
            .values_list("labeler_id", "loo_share").annotate(n=Count("pk")))
    for labeler_id, share, n in rows:
        counts[labeler_id][share] = n
    return counts


def _scores_from_counts(counts: dict[int, Counter]) -> dict[int, LabelerScore]:
    scores = {}
    for labeler_id, values in counts.items():
        n = sum(values.values())
        if n:
            mean = exact_mean(values)
            low, high = wilson_interval(mean, n)
            scores[labeler_id] = LabelerScore(n, mean, low, high)
    return scores


def _rankings_of_prompts(project: Project, prompts: QuerySet, canaries: set[int], *columns: str):
    """(prompt id, [(labeler id, judgement without canaries, *columns)]) of the given prompts, by prompt."""
    rows = (Ranking.objects.filter(project=project, prompt_id__in=prompts).order_by("prompt_id", "pk")
            .values_list("prompt_id", "labeler_id", "tiers", "flagged", *columns).iterator(chunk_size=RANKING_CHUNK))
    for prompt_id, group in itertools.groupby(rows, key=itemgetter(0)):
        ranked = []
        for _, labeler_id, tiers, flagged, *rest in group:
            judgement = Judgement(tiers, flagged)
            ranked.append((labeler_id, strip_completions(judgement, canaries) if canaries else judgement, *rest))
        yield prompt_id, ranked


_TOUCHED_SQL = f"""
    SELECT r.prompt_id, r.labeler_id, r.loo_share, p.quality_shape
    FROM {Ranking._meta.db_table} r JOIN {Prompt._meta.db_table} p ON p.id = r.prompt_id
    WHERE r.prompt_id IN (SELECT prompt_id FROM {Ranking._meta.db_table} WHERE project_id = %s AND labeler_id = ANY(%s))
    ORDER BY r.prompt_id, r.id
"""  # noqa: S608 - table names from the models


def _stored_scores(project: Project, measures: ShapeMeasures, canaries: set[int] | None = None
                   ) -> tuple[dict[int, LabelerScore], set[int]]:
    """labeler_agreement's scores and possible misreaders from the stored leave-one-out agreements
    (everyone trusted); for the rounds that distrust the possible misreaders, the prompts they
    ranked are read (their labelers and stored shape, no ranking's content) and their other
    rankings scored again without them."""
    stored = _stored_share_counts(project)
    # Prompt id → ([(labeler id, stored share)], shape, judgements when it has no shape), of the
    # prompts a distrusted labeler ranked.
    touched: dict[int, tuple[list[tuple[int, float | None]], object, tuple]] = {}
    fetched: set[int] = set()
    shapes: dict[str, object] = {}

    def fetch(labelers: set[int]) -> None:
        new = sorted(labelers - fetched)
        if not new:
            return
        fetched.update(new)
        unshaped = []
        with connection.cursor() as cursor:
            cursor.execute(_TOUCHED_SQL, [project.pk, new])
            for prompt_id, rows in itertools.groupby(cursor.fetchall(), key=itemgetter(0)):
                if prompt_id in touched:
                    continue
                rows = list(rows)
                key = rows[0][3]
                shape = None if key is None else shapes.setdefault(key, measures.intern(parse_shape_key(key)))
                touched[prompt_id] = ([(labeler_id, share) for _, labeler_id, share, _ in rows], shape, ())
                if shape is None:
                    unshaped.append(prompt_id)
        if unshaped:  # only the general code reads these: their judgements
            cut = set(canary_ids(project)) if canaries is None else canaries
            for prompt_id, ranked in _rankings_of_prompts(project, unshaped, cut):
                touched[prompt_id] = (touched[prompt_id][0], None, tuple(judgement for _, judgement in ranked))

    def score(distrusted: set[int]) -> dict[int, LabelerScore]:
        if not distrusted:
            return _scores_from_counts(stored)
        fetch(distrusted)
        counts = {labeler_id: Counter(values) for labeler_id, values in stored.items()}
        for ranked, shape, judgements in touched.values():
            labelers = [labeler_id for labeler_id, _ in ranked]
            if len(ranked) < 2 or distrusted.isdisjoint(labelers):
                continue
            trusted = tuple(labeler_id not in distrusted for labeler_id in labelers)
            results = (measures.left_out(shape, trusted) if shape is not None
                       else _left_out(judgements, trusted, measures.method))
            for (labeler_id, old), result in zip(ranked, results, strict=True):
                if old is not None:
                    counts[labeler_id][old] -= 1
                new = loo_share(result)
                if new is not None:
                    counts.setdefault(labeler_id, Counter())[new] += 1
        return _scores_from_counts(counts)

    return rounds_of_distrust(score)


def labeler_agreement(project: Project) -> dict[int, LabelerScore]:
    """User id → agreement with the leave-one-out consensus (ranked pairs, made without the
    labelers found to be possible misreaders), 0..1, with the number of rankings compared and a
    95% Wilson interval. Canaries are left out. A labeler is absent when none of their rankings
    could be compared yet (no other ranking of the same prompt, or the others' consensus orders
    nothing): their agreement is unknown, not zero. From the stored figures: the same as
    recomputed_labeler_agreement. Thumbs projects store no leave-one-out agreements
    (quality_store.stats_for): theirs is recomputed."""
    if project.feedback == Project.Feedback.THUMBS:
        return recomputed_labeler_agreement(project)
    return _stored_scores(project, ShapeMeasures())[0]


_LABELER_FIGURES_SQL = f"""
    SELECT labeler_id, count(*), count(*) FILTER (WHERE has_tie), sum(num_flagged), sum(num_judged),
           count(*) FILTER (WHERE canary > 0), count(*) FILTER (WHERE canary = {CANARY_PASSED}),
           percentile_cont(0.5) WITHIN GROUP (ORDER BY duration_ms)
    FROM {Ranking._meta.db_table} WHERE project_id = %s GROUP BY labeler_id
"""  # noqa: S608 - table name from the model


def quality_report(project: Project, disagreement_limit: int = 20) -> QualityReport:
    """Every figure of the quality page from the stored figures, in a few aggregating queries
    (whatever the project's size), plus the prompts a possible misreader ranked: the same report
    as recomputed_quality_report."""
    if project.feedback == Project.Feedback.THUMBS:
        # The stored path cannot express the thumbs measures (majority share per completion,
        # nominal alpha, thumbs canaries, no ties) from shapes and leave-one-out agreements, and
        # thumbs projects store neither (quality_store.stats_for): they are recomputed.
        return recomputed_quality_report(project, disagreement_limit)
    canaries = set(canary_ids(project))
    measures = ShapeMeasures()
    agreeing = compared = 0
    agreement_counts: Counter = Counter()
    w_counts: Counter = Counter()
    rank_rows: Counter = Counter()
    top = 1
    fallback: dict[int, ShapeFigures] = {}  # prompts without a stored shape, computed from their rankings

    def add(figures: ShapeFigures, count: int) -> None:
        nonlocal agreeing, compared, top
        for row in figures.rank_rows:
            rank_rows[row] += count
        top = max(top, figures.top)
        if figures.rankings < 2 or figures.pair.share is None:
            return
        agreeing += figures.pair.agreeing * count
        compared += figures.pair.compared * count
        agreement_counts[figures.pair.share] += count
        if figures.kendalls_w is not None:
            w_counts[figures.kendalls_w] += count

    shapes = (Prompt.objects.filter(project=project, num_rankings__gt=0).order_by()
              .values_list("quality_shape").annotate(n=Count("pk")))
    for key, count in shapes:
        if key is None:
            unshaped = Prompt.objects.filter(project=project, num_rankings__gt=0, quality_shape__isnull=True)
            for prompt_id, ranked in _rankings_of_prompts(project, unshaped.values("pk"), canaries):
                fallback[prompt_id] = figures = judgement_figures([judgement for _, judgement in ranked])
                add(figures, 1)
        else:
            add(shape_figures(key), count)

    scores, misreaders = _stored_scores(project, measures, canaries)
    with connection.cursor() as cursor:
        cursor.execute(_LABELER_FIGURES_SQL, [project.pk])
        facts = cursor.fetchall()
    users = dict(get_user_model().objects.filter(pk__in=[row[0] for row in facts]).values_list("pk", "username"))
    labelers = [
        LabelerRow(
            user_id=user_id,
            username=users.get(user_id, ""),
            pseudonym=labeler_pseudonym(project, user_id),
            rankings=n,
            median_seconds=median / 1000 if median is not None else None,
            ties_rate=ties / n,
            flag_rate=flags / judged if judged else None,
            canaries_seen=seen,
            canary_pass_rate=passed / seen if seen else None,
            score=scores.get(user_id),
            possible_misreader=user_id in misreaders,
        )
        for user_id, n, ties, flags, judged, seen, passed, median in facts
    ]
    labelers.sort(key=lambda row: (row.score.agreement if row.score else 2.0, row.username))

    per_day = (Ranking.objects.filter(project=project).order_by()
               .values_list(TruncDate("submitted_at")).annotate(n=Count("pk")))
    worst = []
    least = (Prompt.objects.filter(project=project, agreement__isnull=False)
             .order_by("agreement", "-num_rankings", "pk")[:disagreement_limit]
             .values_list("pk", "text", "agreement", "quality_shape"))
    for prompt_id, text, share, key in least:
        figures = fallback.get(prompt_id) if key is None else shape_figures(key)
        if figures is not None:
            worst.append(PromptRow(prompt_id, text, figures.rankings, share, figures.kendalls_w))

    return _report_with_progress(
        project, _beyond_k(project, canaries),
        rankings=sum(row.rankings for row in labelers),
        rankings_per_day=sorted(per_day),
        pairwise_agreement=agreeing / compared if compared else None,
        kendalls_w=exact_average(w_counts),
        krippendorff_alpha=pooled_ordinal_alpha(rank_rows, top),
        agreement_counts=dict(agreement_counts),
        labelers=labelers,
        most_disagreement=worst,
    )
