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
_NO_FLAGS: list = []


def model_name(model: str, source: str) -> str:
    """The name a completion counts under on the leaderboard."""
    return model or (UPLOADED if source == Completion.Source.UPLOADED else GENERATED)


_MODELS_SQL = """
    SELECT DISTINCT c.model, c.source FROM {completion} c JOIN {prompt} p ON p.id = c.prompt_id
    WHERE p.project_id = %s AND c.source <> %s
"""
_COMPLETIONS_SQL = """
    SELECT c.prompt_id, c.id, c.model, c.source, char_length(c.text)
    FROM {completion} c JOIN {prompt} p ON p.id = c.prompt_id
    WHERE p.project_id = %s AND c.source <> %s
    ORDER BY c.prompt_id
"""
_RANKINGS_SQL = """
    SELECT prompt_id, tiers::text, flagged::text FROM {ranking} WHERE project_id = %s ORDER BY prompt_id, id
"""


class _Pairs:
    """The records for leaderboard_from_arrays, as flat arrays of ints. The pairs a prompt gives
    depend only on its completions' (model, place) list, so they are worked out once per such list
    (`_memo`) and copied in with array.extend; only the lengths are read per prompt."""

    def __init__(self) -> None:
        self.prompt, self.a, self.b, self.len_a, self.len_b = (array("i") for _ in range(5))
        self.outcome = array("b")
        self._memo: dict[tuple, tuple] = {}

    def add_order(self, prompt: int, order: dict[int, int], known: dict) -> None:
        """Every pair of completions of different models in one order (completion id → tier, or
        FLAGGED: below every tier)."""
        ids = list(order)
        key = tuple((known[cid][0], _BOTTOM if order[cid] == FLAGGED else order[cid]) for cid in ids)
        found = self._memo.get(key)
        if found is None:
            a, b, outcome, first, second = [], [], array("b"), [], []
            for i, (model_a, rank_a) in enumerate(key):
                for j in range(i + 1, len(key)):
                    model_b, rank_b = key[j]
                    if model_a != model_b:
                        a.append(model_a)
                        b.append(model_b)
                        outcome.append(_TIE if rank_a == rank_b else _A if rank_a < rank_b else _B)
                        first.append(i)
                        second.append(j)
            found = self._memo[key] = (array("i", a), array("i", b), outcome, first, second)
        a, b, outcome, first, second = found
        if not a:
            return
        self.a.extend(a)
        self.b.extend(b)
        self.outcome.extend(outcome)
        self.prompt.extend(array("i", [prompt]) * len(a))
        self.len_a.extend([known[ids[i]][1] for i in first])
        self.len_b.extend([known[ids[j]][1] for j in second])


_BOTTOM = 1 << 20  # a flagged completion's place: below every tier


def _places(tiers: list, flagged: list, known: dict) -> dict[int, int]:
    """Completion id → its tier in one judgement (FLAGGED for a flagged one), canaries and
    completions no longer in the project left out."""
    place = {cid: rank for rank, tier in enumerate(tiers) for cid in tier if cid in known}
    if flagged:
        place.update((cid, FLAGGED) for cid in flagged if cid in known)
    return place


def _consensus_order(places: list[dict[int, int]], memo: dict) -> dict[int, int]:
    """Completion id → its tier in the consensus of these judgements (majority-flagged ones share
    the tier after the last), computed once per shape."""
    ids = sorted(places[0]) if places else []
    if any(len(place) != len(ids) or place.keys() != places[0].keys() for place in places[1:]):
        ids = sorted(set().union(*places))
        columns = sorted((tuple(place.get(cid, -2) for place in places), cid) for cid in ids)  # -2: absent
    elif len(ids) > 1:
        columns = sorted(zip(zip(*(itemgetter(*ids)(place) for place in places), strict=True), ids, strict=True))
    else:
        columns = [(tuple(place[cid] for place in places), cid) for cid in ids]
    if not columns:
        return {}
    shape = tuple(column for column, _ in columns)
    ranks = memo.get(shape)
    if ranks is None:
        merged = consensus(shape_judgements(tuple(zip(*shape, strict=True))))
        rank_of = {cid: rank for rank, tier in enumerate(merged.tiers) for cid in tier}
        rank_of.update(dict.fromkeys(merged.flagged, len(merged.tiers)))
        ranks = memo[shape] = tuple(rank_of.get(i) for i in range(len(columns)))
    return {cid: rank for (_, cid), rank in zip(columns, ranks, strict=True) if rank is not None}


def _streamed(cursor):
    """The rows of a server-side cursor, fetched 5,000 at a time."""
    for chunk in iter(lambda: cursor.fetchmany(5000), []):
        yield from chunk


def project_leaderboard(project: Project, pairs: str = "consensus", bootstrap: int = DEFAULT_BOOTSTRAP,
                        seed: int | None = 0) -> Leaderboard:
    """The project's leaderboard from its rankings (`pairs`: "consensus" or "labeler"). A fixed
    seed by default, so that the same rankings always give the same intervals."""
    if pairs not in PAIR_KINDS:
        raise ValueError(f"pairs must be one of {', '.join(PAIR_KINDS)}, got {pairs!r}")
    models: dict[str, int] = {}
    records = _Pairs()
    memo: dict = {}
    tables = {"completion": Completion._meta.db_table, "prompt": Prompt._meta.db_table,
              "ranking": Ranking._meta.db_table}
    with transaction.atomic():  # one snapshot for every read (and a server-side cursor needs one)
        with connection.cursor() as cursor:  # the models first: a project of one model has no leaderboard
            cursor.execute(_MODELS_SQL.format(**tables), [project.pk, Completion.Source.CANARY])
            for model, source in sorted(cursor.fetchall(), key=lambda row: (row[0], row[1])):
                models.setdefault(model_name(model, source), len(models))
        if len(models) < 2:
            return _no_board(bootstrap, models)
        # Completions and rankings streamed side by side, both by prompt: only one prompt's
        # completions are held at a time (all of a million prompts' would take 600 MB).
        with connection.chunked_cursor() as completions, connection.chunked_cursor() as rankings:
            completions.execute(_COMPLETIONS_SQL.format(**tables), [project.pk, Completion.Source.CANARY])
            rankings.execute(_RANKINGS_SQL.format(**tables), [project.pk])
            by_prompt = groupby(_streamed(completions), key=itemgetter(0))
            current, rows = -1, iter(())
            prompts = groupby(_streamed(rankings), key=itemgetter(0))
            for number, (prompt_id, group) in enumerate(prompts):
                while current < prompt_id:
                    current, rows = next(by_prompt, (prompt_id + 1, iter(())))
                known = ({cid: (models[model_name(model, source)], length) for _, cid, model, source, length in rows}
                         if current == prompt_id else {})
                places = [_places(orjson.loads(tiers), _NO_FLAGS if flagged == "[]" else orjson.loads(flagged), known)
                          for _, tiers, flagged in group]
                if pairs == "consensus":
                    records.add_order(number, _consensus_order(places, memo), known)
                else:
                    for place in places:
                        records.add_order(number, place, known)
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
