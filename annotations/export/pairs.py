"""One prompt's rankings → the rows of the pair export: plain functions over plain data (no Django).

The export streams prompts one at a time (reading.py reads them from PostgreSQL; the bench builds
them in memory) and calls `prompt_rows` for each, so per-prompt agreement and consensus need
nothing but that prompt's rankings.

Identical completions: a pair whose chosen and rejected texts are the same once leading and
trailing whitespace is removed is never exported (it teaches a reward model nothing, and a
labeler saw two equal texts: a model answering twice alike at temperature 0). Only the ends are
trimmed: a difference of case or of inner spacing is visible on the labeling page, so the
labeler judged it, and the pair stays. The dropped pairs are counted (`identical_pairs_dropped`)."""

import hashlib
import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

from ..consensus import Judgement, consensus, preference_share
from ..ranking import preference_shares, ranking_to_pairs, strict_preferences, without_completions
from .options import ExportOptions

TIE_AGREEMENT = 0.5


class PromptRecord(NamedTuple):
    """A prompt as the export needs it. `completions` holds the exportable (non-canary)
    completions, id → text; `canaries` the ids to take out of every ranking."""

    id: int
    public_id: str
    text: str
    completions: Mapping[int, str]
    canaries: frozenset[int] = frozenset()
    messages: list[dict] | None = None  # a conversation's messages ([{"role", "content"}]); None: plain


class RankingRecord(NamedTuple):
    labeler_id: int
    tiers: list[list[int]]
    flagged: list[int]
    shown_order: list[int]
    instruction_version: int | None = None
    duration_ms: int | None = None
    submitted_at: str | None = None  # ISO 8601
    revision: int = 1  # the ranking's latest revision: the one exported


def split_of(public_id: str, test_fraction: float | None, seed: int = 0) -> str:
    """"train" or "test" for a prompt, from a hash of its id and the seed: the same prompt lands
    in the same split on every export with the same seed, and all its pairs go together."""
    if not test_fraction:
        return "train"
    digest = hashlib.blake2b(f"{seed}\x00{public_id}".encode(), digest_size=8).digest()
    return "test" if int.from_bytes(digest, "big") / 2**64 < test_fraction else "train"


class PromptExport(NamedTuple):
    """What one prompt contributes: its split, its pairs as PairRow tuples (plain tuples in the
    hot path: chosen_id, rejected_id, chosen_rank, rejected_rank, labeler, agreement, margin),
    its raw rankings as rankings.jsonl rows, and how many pairs of identical texts were left out."""

    split: str
    pairs: list[tuple]
    rankings: list[dict[str, Any]]
    identical_dropped: int = 0


class PairRow(NamedTuple):
    """The field order of the tuples in PromptExport.pairs (for readers of this module)."""

    chosen_id: int
    rejected_id: int
    chosen_rank: int
    rejected_rank: int
    labeler: str | None
    agreement: float
    margin: float | None


def same_text(a: str, b: str) -> bool:
    """The export's "identical": equal once leading and trailing whitespace is removed."""
    return a.strip() == b.strip()


def pair_record(prompt: PromptRecord, split: str, row: tuple, with_margin: bool) -> dict[str, Any]:
    """One pair as the contract's record (column order of PAIR_COLUMNS, then margin)."""
    chosen, rejected, chosen_rank, rejected_rank, labeler, agreement, margin = row
    record = {
        "prompt": prompt.text,
        "chosen": prompt.completions[chosen],
        "rejected": prompt.completions[rejected],
        "prompt_id": prompt.public_id,
        "chosen_id": chosen,
        "rejected_id": rejected,
        "chosen_rank": chosen_rank,
        "rejected_rank": rejected_rank,
        "labeler": labeler,
        "agreement": agreement,
        "split": split,
    }
    if with_margin:
        record["margin"] = margin
    return record


def prompt_rows(
    prompt: PromptRecord,
    rankings: Sequence[RankingRecord],
    options: ExportOptions,
    pseudonym: Callable[[int], str],
    thumbs: bool = False,
) -> PromptExport:
    """The pairs and raw-ranking rows of one prompt. In a thumbs project (`thumbs`) a ranking's
    tiers are `[ups, downs]`: its pairs are each up above each down.

    labeler mode: each labeler's own pairs, `labeler` their pseudonym. consensus mode: the pairs of
    the prompt's consensus ranking (consensus.py), `labeler` null. In both, `agreement` is the
    share of the prompt's labelers (those shown both completions) who preferred chosen to
    rejected, 0.5 for a tied pair. Canary completions are taken out of every ranking first, and
    pairs of identical texts are left out last (they still count in the other pairs' agreement:
    the labelers ranked them)."""
    split = split_of(prompt.public_id, options.test_fraction, options.seed)
    canaries = prompt.canaries
    if canaries and thumbs:  # by position: an emptied tier stays, so ups stay ups
        cleaned = [([[cid for cid in tier if cid not in canaries] for tier in r.tiers],
                    [cid for cid in r.flagged if cid not in canaries]) for r in rankings]
    elif canaries:
        cleaned = [without_completions(r.tiers, r.flagged, canaries) for r in rankings]
    else:
        cleaned = [(r.tiers, r.flagged) for r in rankings]
    names = [pseudonym(ranking.labeler_id) for ranking in rankings]
    orders = _same_strict_orders(cleaned) if options.mode == "labeler" else None
    if orders is not None:
        rows = _strict_order_rows(orders, names)
    else:
        rows = _rows(cleaned, names, options)
    identical_dropped = 0
    texts = prompt.completions
    if len({text.strip() for text in texts.values()}) < len(texts):  # rare: two completions alike
        trimmed = {cid: text.strip() for cid, text in texts.items()}  # what same_text compares
        kept = [row for row in rows if trimmed[row[0]] != trimmed[row[1]]]
        identical_dropped, rows = len(rows) - len(kept), kept
    if options.margin == "agreement":
        rows = [(*row[:6], row[5]) for row in rows]
    elif options.margin == "rank-gap":
        rows = [(*row[:6], float(row[3] - row[2])) for row in rows]
    raw = [
        {
            "prompt_id": prompt.public_id,
            "labeler": name,
            "tiers": tiers,
            "flagged": flagged,
            "shown_order": [cid for cid in ranking.shown_order if cid not in canaries] if canaries
            else ranking.shown_order,
            "instructions_version": ranking.instruction_version,
            "revision": ranking.revision,
            "duration_ms": ranking.duration_ms,
            "submitted_at": ranking.submitted_at,
            "split": split,
        }
        for name, ranking, (tiers, flagged) in zip(names, rankings, cleaned, strict=True)
    ]
    return PromptExport(split, rows, raw, identical_dropped)


def conversation_of(prompt: PromptRecord) -> list[dict]:
    """The prompt in TRL's conversational format: its messages, or a plain prompt as one user message."""
    return prompt.messages if prompt.messages is not None else [{"role": "user", "content": prompt.text}]


def kto_rows(
    prompt: PromptRecord,
    rankings: Sequence[RankingRecord],
    pseudonym: Callable[[int], str],
    thumbs: bool,
) -> list[tuple[int, bool, str]]:
    """(completion id, label, labeler) for every judged completion of every ranking, canaries left out.

    Thumbs (tiers `[ups, downs]`): up → true, down → false. Ranking: the first tier → true and the
    last → false when there are at least two tiers (the middle ones say neither). A flag → false."""
    canaries = prompt.canaries
    rows: list[tuple[int, bool, str]] = []
    for ranking in rankings:
        name = pseudonym(ranking.labeler_id)
        tiers = ranking.tiers
        if thumbs:
            good, bad = (tiers[0], tiers[1]) if len(tiers) == 2 else ((), ())
        else:
            # Canaries out first (a tier left empty disappears), so "first" and "last" are the labeler's
            # ranking of the real completions.
            tiers, _ = without_completions(tiers, (), canaries)
            good, bad = (tiers[0], tiers[-1]) if len(tiers) >= 2 else ((), ())
        rows.extend([(cid, True, name) for cid in good if cid not in canaries])
        rows.extend([(cid, False, name) for cid in bad if cid not in canaries])
        rows.extend([(cid, False, name) for cid in ranking.flagged if cid not in canaries])
    return rows


def _same_strict_orders(cleaned: list[tuple[list[list[int]], list[int]]]) -> list[list[int]] | None:
    """Each ranking's order, best first, when every ranking is a strict order (one completion per
    tier, nothing flagged) of the same completions: the usual prompt, whose pairs need no tier
    loops and whose agreement is a count over the prompt's rankings. Otherwise None."""
    orders = []
    for tiers, flagged in cleaned:
        order = [cid for tier in tiers for cid in tier]
        if flagged or len(order) != len(tiers) or not all(tiers):
            return None  # a flag or a tie
        orders.append(order)
    shown = set(orders[0]) if orders else set()
    for order in orders:
        if set(order) != shown:
            return None  # not all shown the same completions: the shares need the general count
    return orders


_INDEX_PAIRS: dict[int, list[tuple[int, int, int, int]]] = {}


def _index_pairs(n: int) -> list[tuple[int, int, int, int]]:
    """(i, j, i + 1, j + 1) for every i < j below n: positions and ranks of a strict order's pairs."""
    pairs = _INDEX_PAIRS.get(n)
    if pairs is None:
        pairs = _INDEX_PAIRS[n] = [(i, j, i + 1, j + 1) for i in range(n) for j in range(i + 1, n)]
    return pairs


def _strict_order_rows(orders: list[list[int]], names: list[str]) -> list[tuple]:
    """The rows of _rows for strict orders of the same completions, in the same order with the
    same values (ranking_to_pairs' pairs, preference_shares' agreement), made in one pass per
    ranking: this is most prompts of an export, and the general path costs several times more."""
    counts: dict[tuple[int, int], int] = {}
    get = counts.get
    for order in orders:
        for i, j, _, _ in _index_pairs(len(order)):
            key = (order[i], order[j])
            counts[key] = get(key, 0) + 1
    k = len(orders)
    rows: list[tuple] = []
    for name, order in zip(names, orders, strict=True):
        rows.extend([(order[i], order[j], chosen_rank, rejected_rank, name, counts[order[i], order[j]] / k, None)
                     for i, j, chosen_rank, rejected_rank in _index_pairs(len(order))])
    return rows


def _rows(cleaned: list[tuple[list[list[int]], list[int]]], names: list[str], options: ExportOptions) -> list[tuple]:
    """Pair rows (chosen_id, rejected_id, chosen_rank, rejected_rank, labeler, agreement, None; the
    margin is added by the caller) of any rankings, with ties and flags, in either mode."""
    flagged_as, ties = options.flagged, options.ties
    if options.mode == "labeler":
        labeled = [
            (name, ranking_to_pairs(tiers, flagged, flagged_as=flagged_as, ties=ties))
            for name, (tiers, flagged) in zip(names, cleaned, strict=True)
        ]
        if ties == "drop" and (flagged_as == "rejected" or not any(flagged for _, flagged in cleaned)):
            preferences = [pairs for _, pairs in labeled]  # the same pairs: no need to make them twice
        else:
            preferences = [strict_preferences(tiers, flagged) for tiers, flagged in cleaned]
        shown = [frozenset(itertools.chain(flagged, *tiers)) for tiers, flagged in cleaned]
        shares = preference_shares(preferences, shown)
    else:
        judgements = [Judgement(tiers=tiers, flagged=flagged) for tiers, flagged in cleaned]
        merged = consensus(judgements) if judgements else None
        labeled = []
        if merged is not None:
            labeled = [(None, ranking_to_pairs(merged.tiers, merged.flagged, flagged_as=flagged_as, ties=ties))]
        shares = {(p.chosen, p.rejected): preference_share(judgements, p.chosen, p.rejected)
                  for _, pairs in labeled for p in pairs if not p.tied}

    share = shares.get
    rows: list[tuple] = []
    for labeler, pairs in labeled:
        rows.extend([
            (chosen, rejected, chosen_rank, rejected_rank, labeler,
             TIE_AGREEMENT if tied else share((chosen, rejected), 0.0), None)
            for chosen, rejected, chosen_rank, rejected_rank, tied in pairs
        ])
    return rows
