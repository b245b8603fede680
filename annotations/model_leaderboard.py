"""A project's model leaderboard: its rankings turned into pairs between completions of different
models, fitted by annotations/leaderboard.py (Bradley–Terry, bootstrap by prompt).

Which model a completion counts under: `Completion.model`, or "uploaded" for an uploaded
completion without one ("generated" for a generated one without one, which the generator never
leaves). Canaries are left out of every ranking first, as for consensus and agreement.

Pairs:
* **consensus** (default): per prompt, the consensus of its rankings (consensus.consensus, ranked
  pairs, as the export's consensus pairs) ordered into tiers, completions flagged by a majority
  below every ranked one; each pair of completions of different models gives one record: the
  higher tier wins, the same tier (or both majority-flagged) is a tie. One record per pair per
  prompt, whatever the number of labelers.
* **labeler**: one record per pair per ranking (a flagged completion below every ranked one).

Speed: the rankings are read in one streamed query (JSON as text, decoded with orjson); a
prompt's consensus depends only on its shape (how its rankings order the completions, whatever
their ids), so it is computed once per shape (a few hundred for 3 rankings of 4 completions),
and the records go straight into flat arrays for the fit. bench/leaderboard.py --database-url
measures it on 100,000 prompts × 3 rankings × 4 models."""

from array import array
from itertools import groupby
from operator import itemgetter

import orjson
from django.db import connection, transaction

from .consensus import FLAGGED, consensus, shape_judgements
from .leaderboard import DEFAULT_BOOTSTRAP, Leaderboard, leaderboard_from_arrays
from .models import Completion, Project, Prompt, Ranking

PAIR_KINDS = ("consensus", "labeler")
UPLOADED, GENERATED = "uploaded", "generated"
_A, _B, _TIE = 0, 1, 2


def model_name(model: str, source: str) -> str:
    """The name a completion counts under on the leaderboard."""
    return model or (UPLOADED if source == Completion.Source.UPLOADED else GENERATED)


_COMPLETIONS_SQL = """
    SELECT c.id, c.model, c.source, char_length(c.text)
    FROM {completion} c JOIN {prompt} p ON p.id = c.prompt_id
    WHERE p.project_id = %s AND c.source <> %s
"""
_RANKINGS_SQL = """
    SELECT prompt_id, tiers::text, flagged::text FROM {ranking} WHERE project_id = %s ORDER BY prompt_id, id
"""


class _Pairs:
    """The records for leaderboard_from_arrays, appended as plain ints."""

    def __init__(self) -> None:
        self.prompt, self.a, self.b, self.len_a, self.len_b = (array("i") for _ in range(5))
        self.outcome = array("b")

    def add(self, prompt: int, a: int, b: int, outcome: int, len_a: int, len_b: int) -> None:
        self.prompt.append(prompt)
        self.a.append(a)
        self.b.append(b)
        self.outcome.append(outcome)
        self.len_a.append(len_a)
        self.len_b.append(len_b)


def _places(tiers: list, flagged: list, known: dict) -> dict[int, int]:
    """Completion id → its tier in one judgement (FLAGGED for a flagged one), canaries and
    completions no longer in the project left out."""
    place = {cid: rank for rank, tier in enumerate(tiers) for cid in tier if cid in known}
    place.update((cid, FLAGGED) for cid in flagged if cid in known)
    return place


def _consensus_order(places: list[dict[int, int]], memo: dict) -> dict[int, int]:
    """Completion id → its tier in the consensus of these judgements (majority-flagged ones share
    the tier after the last), computed once per shape."""
    ids = sorted(set().union(*places))
    if not ids:
        return {}
    columns = sorted((tuple(place.get(cid, -2) for place in places), cid) for cid in ids)  # -2: absent
    shape = tuple(column for column, _ in columns)
    ranks = memo.get(shape)
    if ranks is None:
        merged = consensus(shape_judgements(tuple(zip(*shape, strict=True))))
        rank_of = {cid: rank for rank, tier in enumerate(merged.tiers) for cid in tier}
        rank_of.update(dict.fromkeys(merged.flagged, len(merged.tiers)))
        ranks = memo[shape] = tuple(rank_of.get(i) for i in range(len(columns)))
    return {cid: rank for (_, cid), rank in zip(columns, ranks, strict=True) if rank is not None}


def _add_order(pairs: _Pairs, prompt: int, order: dict[int, int], known: dict) -> None:
    """Every pair of completions of different models in one order (tier or FLAGGED per id)."""
    ids = list(order)
    for i, first in enumerate(ids):
        model_a, len_a = known[first]
        rank_a = order[first]
        if rank_a == FLAGGED:
            rank_a = 1 << 20
        for second in ids[i + 1:]:
            model_b, len_b = known[second]
            if model_a == model_b:
                continue
            rank_b = order[second]
            if rank_b == FLAGGED:
                rank_b = 1 << 20
            outcome = _TIE if rank_a == rank_b else _A if rank_a < rank_b else _B
            pairs.add(prompt, model_a, model_b, outcome, len_a, len_b)


def project_leaderboard(project: Project, pairs: str = "consensus", bootstrap: int = DEFAULT_BOOTSTRAP,
                        seed: int | None = 0) -> Leaderboard:
    """The project's leaderboard from its rankings (`pairs`: "consensus" or "labeler"). A fixed
    seed by default, so that the same rankings always give the same intervals."""
    if pairs not in PAIR_KINDS:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS)}, got {pairs!r}")
    models: dict[str, int] = {}
    known: dict[int, tuple[int, int]] = {}  # completion id → (model index, length)
    records = _Pairs()
    memo: dict = {}
    tables = {"completion": Completion._meta.db_table, "prompt": Prompt._meta.db_table,
              "ranking": Ranking._meta.db_table}
    with transaction.atomic():  # one snapshot for both reads (and a server-side cursor needs one)
        with connection.cursor() as cursor:
            cursor.execute(_COMPLETIONS_SQL.format(**tables), [project.pk, Completion.Source.CANARY])
            for cid, model, source, length in cursor.fetchall():
                name = model_name(model, source)
                known[cid] = (models.setdefault(name, len(models)), length)
        if len(models) < 2:
            return _no_board(bootstrap, models)
        with connection.chunked_cursor() as cursor:
            cursor.execute(_RANKINGS_SQL.format(**tables), [project.pk])
            rows = iter(lambda: cursor.fetchmany(5000), [])
            prompts = groupby((row for chunk in rows for row in chunk), key=itemgetter(0))
            for number, (_, group) in enumerate(prompts):
                places = [_places(orjson.loads(tiers), orjson.loads(flagged), known) for _, tiers, flagged in group]
                if pairs == "consensus":
                    _add_order(records, number, _consensus_order(places, memo), known)
                else:
                    for place in places:
                        _add_order(records, number, place, known)
    import numpy as np  # with the fit: pages that never show a leaderboard do not load numpy

    names = sorted(models, key=models.__getitem__)
    arrays = [np.frombuffer(column, dtype=dtype) if len(column) else np.zeros(0, dtype=dtype)
              for column, dtype in ((records.prompt, np.int32), (records.a, np.int32), (records.b, np.int32),
                                    (records.outcome, np.int8), (records.len_a, np.int32),
                                    (records.len_b, np.int32))]
    board = leaderboard_from_arrays(*arrays, models=names, bootstrap=bootstrap, seed=seed)
    if not board.models:
        return _no_board(bootstrap, models)
    return board


def _no_board(bootstrap: int, models: dict[str, int]) -> Leaderboard:
    if len(models) < 2:
        only = f" (only {next(iter(models))!r})" if models else ""
        reason = (f"a leaderboard needs completions of at least two models{only}; completions count under "
                  f"Completion.model, or \"uploaded\" when an uploaded completion names none")
    else:
        reason = "no ranking compares completions of two different models yet"
    return Leaderboard("bradley-terry", bootstrap, [], [], False, reason)


__all__ = ["PAIR_KINDS", "model_name", "project_leaderboard"]
