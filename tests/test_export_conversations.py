"""Exports of conversations (TRL's conversational preference format) and KTO exports (`kind`)."""

import csv
import json

import pyarrow.parquet as pq
import pytest

from annotations.export.bundle import write_bundle
from annotations.export.options import KTO_COLUMNS, PAIR_COLUMNS, ExportOptions, ExportOptionsError
from annotations.export.writers import sha256_of
from annotations.models import Export

from .export_builders import add_canary, rank
from .factories import completion_ids, make_project, make_prompt, make_user

CHAT = [
    {"role": "system", "content": "Be kind."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "A joke, please."},
]


def lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def reply(text):
    return [{"role": "assistant", "content": text}]


@pytest.fixture
def mixed(project, alice, bob):
    """A conversation and a plain prompt, each ranked c1 > c2 > c3 by alice and bob."""
    chat = make_prompt(project, ["First joke", "Second joke", "Third joke"], external_id="chat", messages=CHAT)
    plain = make_prompt(project, ["a", "b", "c"], external_id="plain", text="Plain <b>prompt</b>")
    for labeler in (alice, bob):
        rank(chat, labeler, [[1], [2], [3]])
        rank(plain, labeler, [[1], [2], [3]])
    return chat, plain


def test_conversational_export_gives_messages_and_assistant_replies(mixed, tmp_path):
    write_bundle(mixed[0].project, ExportOptions(), tmp_path)
    rows = lines(tmp_path / "pairs.jsonl")
    assert list(rows[0]) == list(PAIR_COLUMNS)  # the other columns unchanged
    chat_rows = [row for row in rows if row["prompt_id"] == "chat"]
    assert len(chat_rows) == 6
    assert chat_rows[0]["prompt"] == CHAT
    assert (chat_rows[0]["chosen"], chat_rows[0]["rejected"]) == (reply("First joke"), reply("Second joke"))
    # In a mixed project the plain prompt is a conversation of one user message, so one file loads in TRL.
    plain_row = next(row for row in rows if row["prompt_id"] == "plain")
    assert plain_row["prompt"] == [{"role": "user", "content": "Plain <b>prompt</b>"}]
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["prompt_format"] == "conversational"
    card = (tmp_path / "README.md").read_text()
    assert "conversational format" in card and 'select_columns(["prompt", "chosen", "rejected"])' in card


def test_conversational_parquet_and_csv(mixed, tmp_path):
    write_bundle(mixed[0].project, ExportOptions(format="parquet"), tmp_path / "pq")
    table = pq.read_table(tmp_path / "pq" / "pairs.parquet")
    assert str(table.schema.field("prompt").type.value_type) == "struct<role: string, content: string>"
    first = table.to_pylist()[0]
    assert first["prompt"] == CHAT and first["chosen"] == reply("First joke")
    write_bundle(mixed[0].project, ExportOptions(format="csv"), tmp_path / "csv")
    with open(tmp_path / "csv" / "pairs.csv", newline="") as handle:
        row = next(csv.DictReader(handle))
    assert json.loads(row["prompt"]) == CHAT and json.loads(row["rejected"]) == reply("Second joke")


def test_plain_project_exports_text_as_before(project, alice, tmp_path):
    prompt = make_prompt(project, ["a", "b"], text="Plain")
    rank(prompt, alice, [[2], [1]])
    write_bundle(project, ExportOptions(), tmp_path)
    (row,) = lines(tmp_path / "pairs.jsonl")
    assert (row["prompt"], row["chosen"], row["rejected"]) == ("Plain", "b", "a")
    assert json.loads((tmp_path / "manifest.json").read_text())["prompt_format"] == "plain"


def test_kto_from_a_ranking_labels_first_tier_true_last_tier_and_flags_false(project, alice, bob, tmp_path):
    prompt = make_prompt(project, ["best", "middle", "worst", "nonsense"], external_id="p")
    canary = add_canary(prompt)
    c1, c2, c3, c4 = completion_ids(prompt)[:4]
    rank(prompt, alice, [[1], [2], [3], [5]], flagged=[4])  # the canary (5) last: "last" means c3
    rank(prompt, bob, [[1, 2, 3, 4]])  # one tier: no label
    write_bundle(project, ExportOptions(kind="kto", test_fraction=0.5, seed=3), tmp_path)
    files = sorted(path.name for path in tmp_path.glob("*.jsonl"))
    assert files == ["rankings.jsonl", "test.jsonl", "train.jsonl"]
    rows = [row for name in ("train.jsonl", "test.jsonl") for row in lines(tmp_path / name)]
    assert all(list(row) == list(KTO_COLUMNS) for row in rows)
    assert sorted((row["completion_id"], row["label"]) for row in rows) == [(c1, True), (c3, False), (c4, False)]
    assert canary.pk not in {row["completion_id"] for row in rows}
    assert {row["labeler"] for row in rows} == {rows[0]["labeler"]} and rows[0]["labeler"].startswith("labeler-")
    assert (rows[0]["prompt"], rows[0]["prompt_id"], rows[0]["split"] in ("train", "test")) == (prompt.text, "p", True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["parameters"]["kind"] == "kto" and manifest["columns"] == list(KTO_COLUMNS)
    for name in ("train.jsonl", "test.jsonl", "rankings.jsonl", "README.md"):
        assert manifest["files"][name]["sha256"] == sha256_of(tmp_path / name)
    assert "KTOTrainer" in (tmp_path / "README.md").read_text()


@pytest.fixture
def thumbs_prompt(db):
    project = make_project("thumbs", feedback="thumbs")
    ana, ben = make_user("ana", "labeler", project), make_user("ben", "labeler", project)
    prompt = make_prompt(project, ["good", "also good", "bad", "odd"], external_id="t", messages=CHAT)
    canary = add_canary(prompt)
    rank(prompt, ana, [[1, 2], [3, 5]], flagged=[4])  # ups 1, 2; downs 3 and the canary; 4 flagged
    rank(prompt, ben, [[], [1, 5]], flagged=[2, 3, 4])  # no up at all
    return prompt, canary


def test_kto_from_thumbs_in_conversational_format(thumbs_prompt, tmp_path):
    prompt, canary = thumbs_prompt
    c1, c2, c3, c4 = completion_ids(prompt)[:4]
    write_bundle(prompt.project, ExportOptions(kind="kto"), tmp_path)
    rows = lines(tmp_path / "kto.jsonl")
    by_labeler = {}
    for row in rows:
        by_labeler.setdefault(row["labeler"], set()).add((row["completion_id"], row["label"]))
    assert sorted(by_labeler.values(), key=len) == [
        {(c1, True), (c2, True), (c3, False), (c4, False)},
        {(c1, False), (c2, False), (c3, False), (c4, False)},
    ]
    assert rows[0]["prompt"] == CHAT and rows[0]["completion"] == reply("good")


def test_preference_from_thumbs_pairs_each_up_with_each_down_of_the_same_labeler(thumbs_prompt, tmp_path):
    prompt, canary = thumbs_prompt
    c1, c2, c3, _ = completion_ids(prompt)[:4]
    write_bundle(prompt.project, ExportOptions(format="parquet"), tmp_path)
    rows = pq.read_table(tmp_path / "pairs.parquet").to_pylist()
    assert sorted((row["chosen_id"], row["rejected_id"]) for row in rows) == [(c1, c3), (c2, c3)]
    assert {row["labeler"] for row in rows} == {rows[0]["labeler"]}  # all ana's: ben gave no up


def test_kto_options_that_make_no_sense_are_refused():
    with pytest.raises(ExportOptionsError, match="mode"):
        ExportOptions(kind="kto", mode="consensus")
    with pytest.raises(ExportOptionsError, match="kind"):
        ExportOptions(kind="thumbs")


def test_api_takes_the_kind_option(api, project, rita):
    response = api(rita).post("/api/projects/helpful/exports/", {"kind": "kto"}, format="json")
    assert response.status_code == 202
    assert Export.objects.get(pk=response.json()["id"]).params["kind"] == "kto"
    bad = api(rita).post("/api/projects/helpful/exports/", {"kind": "kto", "mode": "consensus"}, format="json")
    assert bad.status_code == 400 and "mode" in bad.json()
