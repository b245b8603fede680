"""The prompts browser: which of a project's prompts a researcher or admin is looking for
(search and filters, read from a query string), and one prompt's rankings side by side.

Every figure a row shows is a stored column (num_completions, num_rankings, agreement,
generation_error) or one correlated subquery, so a page of prompts is one query whatever the
size of the project."""

from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Substr

from .adaptive import complete_for
from .consensus import Judgement, consensus, pairwise_agreement, positions, strip_completions
from .models import Completion, Project, Prompt, Ranking

# Below this pairwise agreement a prompt counts as disputed (the same default as a project's
# agreement target for adaptive overlap); `?below=` changes it for one search.
DISPUTED_BELOW = 0.75
PAGE_SIZE = 50
MAX_QUERY_LENGTH = 500
# Orders a list may be sorted in: query-string value → label.
ORDERS = {"": "Upload order", "agreement": "Lowest agreement first"}
EXCERPT_CHARS = 200  # a row shows the start of the text; the database sends no more than this


@dataclass(frozen=True)
class PromptFilters:
    """What the browser is asked for. `errors` maps a query-string field to its messages."""

    q: str = ""
    complete: bool = False
    disputed: bool = False
    flagged: bool = False
    failed: bool = False
    below: float = DISPUTED_BELOW
    order: str = ""
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.q or self.complete or self.disputed or self.flagged or self.failed)

    def query_string(self) -> str:
        """The filters as a query string (no page number), for links that must keep them."""
        params: list[tuple[str, str]] = []
        if self.q:
            params.append(("q", self.q))
        params += [(name, "1") for name in ("complete", "disputed", "flagged", "failed") if getattr(self, name)]
        if self.below != DISPUTED_BELOW:
            params.append(("below", f"{self.below:g}"))
        if self.order:
            params.append(("order", self.order))
        return urlencode(params)


def _checked(value: str | None) -> bool:
    return value is not None and value.lower() in {"1", "on", "true", "yes"}


def parse_filters(params) -> PromptFilters:
    """Filters from a query string (a QueryDict or a plain dict). Bad values are reported in
    `errors` under their field's name and replaced by the default, so the page still answers."""
    errors: dict[str, list[str]] = {}
    q = (params.get("q") or "").strip()
    if "\x00" in q:  # PostgreSQL text cannot hold NUL: say so rather than fail
        errors["q"] = ["Search: the text contains a NUL character, which no prompt can contain."]
        q = q.replace("\x00", "")
    if len(q) > MAX_QUERY_LENGTH:
        errors["q"] = [f"Search: at most {MAX_QUERY_LENGTH} characters."]
        q = q[:MAX_QUERY_LENGTH]
    below = DISPUTED_BELOW
    raw_below = (params.get("below") or "").strip()
    if raw_below:
        try:
            below = float(raw_below)
        except ValueError:
            below = -1.0
        if not 0 < below <= 1:
            errors["below"] = [f"Disputed below: a number above 0 and at most 1, not {raw_below[:20]!r}."]
            below = DISPUTED_BELOW
    order = params.get("order") or ""
    if order not in ORDERS:
        errors["order"] = [f"Order: one of {', '.join(repr(o) for o in ORDERS if o)}, or none."]
        order = ""
    return PromptFilters(
        q=q,
        order=order,
        complete=_checked(params.get("complete")),
        disputed=_checked(params.get("disputed")),
        flagged=_checked(params.get("flagged")),
        failed=_checked(params.get("failed")),
        below=below,
        errors=errors,
    )


def _flagging(prompt_ref: OuterRef) -> QuerySet[Ranking]:
    """Rankings of the prompt that flagged at least one completion."""
    return Ranking.objects.filter(prompt=prompt_ref).exclude(flagged=[])


def _ordering(filters: PromptFilters) -> tuple:
    if filters.order == "agreement":
        return F("agreement").asc(nulls_last=True), "pk"
    return ("pk",)


def matching_prompts(project: Project, filters: PromptFilters) -> QuerySet[Prompt]:
    """The project's prompts matching `filters`, in upload order or lowest agreement first (then
    those with no agreement yet)."""
    prompts = Prompt.objects.filter(project=project)
    if filters.q:
        # Text (case-insensitive contains), the file's id exactly, or LabelHub's id exactly.
        match = Q(text__icontains=filters.q) | Q(external_id=filters.q)
        if filters.q.isascii() and filters.q.isdigit() and len(filters.q) < 19:  # fits a bigint
            match |= Q(pk=int(filters.q))
        prompts = prompts.filter(match)
    if filters.complete:
        prompts = prompts.filter(complete_for(project))
    if filters.disputed:
        prompts = prompts.filter(agreement__lt=filters.below)  # NULL (under two rankings) is not disputed
    if filters.flagged:
        prompts = prompts.filter(Exists(_flagging(OuterRef("pk"))))
    if filters.failed:
        prompts = prompts.exclude(generation_error="")
    return prompts.order_by(*_ordering(filters))


def browse_prompts(project: Project, filters: PromptFilters) -> QuerySet[Prompt]:
    """`matching_prompts`, each annotated with `excerpt` (the text's start) and
    `flagging_rankings` (how many of its rankings flagged a completion), for a list page."""
    flagging = _flagging(OuterRef("pk")).order_by().values("prompt").annotate(n=Count("pk")).values("n")[:1]
    return (
        matching_prompts(project, filters)
        .annotate(
            excerpt=Substr("text", 1, EXCERPT_CHARS),
            flagging_rankings=Coalesce(Subquery(flagging, output_field=IntegerField()), Value(0)),
        )
        .only("pk", "external_id", "num_completions", "num_rankings", "agreement", "generation_error", "project_id")
    )


def neighbours(project: Project, filters: PromptFilters, prompt: Prompt) -> tuple[int | None, int | None]:
    """The ids of the prompts just before and just after `prompt` in the list `filters` give
    (two queries; `prompt` itself need not match the filters)."""
    if filters.order == "agreement" and prompt.agreement is not None:
        a = prompt.agreement
        after = Q(agreement__gt=a) | Q(agreement=a, pk__gt=prompt.pk) | Q(agreement__isnull=True)
        before = Q(agreement__lt=a) | Q(agreement=a, pk__lt=prompt.pk)
    elif filters.order == "agreement":
        after = Q(agreement__isnull=True, pk__gt=prompt.pk)
        before = Q(agreement__isnull=False) | Q(agreement__isnull=True, pk__lt=prompt.pk)
    else:
        after, before = Q(pk__gt=prompt.pk), Q(pk__lt=prompt.pk)
    ids = matching_prompts(project, filters).values_list("pk", flat=True)
    return ids.filter(before).reverse().first(), ids.filter(after).first()


# --- One prompt, its rankings side by side ------------------------------------------------------------


@dataclass
class RankingColumn:
    ranking: Ranking
    pseudonym: str

    @property
    def username(self) -> str:
        return self.ranking.labeler.username

    @property
    def seconds(self) -> float | None:
        return self.ranking.duration_ms / 1000 if self.ranking.duration_ms else None


@dataclass
class CompletionRow:
    completion: Completion
    cells: list[str]  # per ranking column: the tier (1 = best), "flagged" or "—" (not shown to them)
    consensus: str


@dataclass
class SideBySide:
    rows: list[CompletionRow]
    agreement: float | None


def _place(place: dict[int, int], flagged: list[int], completion_id: int) -> str:
    if completion_id in flagged:
        return "flagged"
    if completion_id in place:
        return str(place[completion_id] + 1)
    return "—"


def side_by_side(completions: list[Completion], rankings: list[Ranking]) -> SideBySide:
    """A row per completion (consensus order: best first, flagged, then those nobody saw), a cell
    per ranking; consensus and agreement leave canaries out, like the quality page."""
    canaries = {c.pk for c in completions if c.is_canary}
    judgements = [strip_completions(Judgement(r.tiers, r.flagged), canaries) for r in rankings]
    merged = consensus(judgements) if judgements else Judgement([], [])
    merged_place = positions(Judgement(merged.tiers, []))
    places = [positions(Judgement(r.tiers, [])) for r in rankings]
    rows = [
        CompletionRow(
            completion=completion,
            cells=[_place(place, r.flagged, completion.pk) for place, r in zip(places, rankings, strict=True)],
            consensus=_place(merged_place, merged.flagged, completion.pk),
        )
        for completion in completions
    ]

    def order(row: CompletionRow) -> tuple:
        verdict = row.consensus
        return (verdict == "—", verdict == "flagged", int(verdict) if verdict.isdigit() else 0, row.completion.position)

    rows.sort(key=order)
    return SideBySide(rows=rows, agreement=pairwise_agreement(judgements).share)
