"""`manage.py export_pairs`: the bundle, every option, and clear errors."""

import csv
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import CommandError, call_command

from annotations.export.options import PAIR_COLUMNS
from annotations.quality import labeler_pseudonym

from .export_builders import add_canary, rank
from .factories import completion_ids, make_prompt, make_user

ROOT = Path(__file__).resolve().parent.parent


def export(tmp_path, *args: str, name: str = "out") -> Path:
    out = tmp_path / name
    call_command("export_pairs", "--project", "helpful", "--out", str(out), *args)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Users are made by the dozen here; their passwords need no slow hashing."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def lecture(project, alice, bob):
    """The lecture's example: three completions, both labelers rank them c2 > c1 > c3."""
    prompt = make_prompt(project, ["first answer", "second answer", "third answer"], external_id="lecture-1")
    rank(prompt, alice, [[2], [1], [3]])
    rank(prompt, bob, [[2], [1], [3]])
    return prompt


def test_default_export_writes_the_bundle_with_the_lecture_pairs(tmp_path, lecture, alice):
    out = export(tmp_path, name="new/dir")  # --out is created if missing
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "manifest.json", "pairs.jsonl", "rankings.jsonl"]
    rows = read_jsonl(out / "pairs.jsonl")
    c1, c2, c3 = completion_ids(lecture)
    alices = [r for r in rows if r["labeler"] == labeler_pseudonym(lecture.project, alice.pk)]
    assert [(r["chosen_id"], r["rejected_id"]) for r in alices] == [(c2, c1), (c2, c3), (c1, c3)]
    assert [(r["chosen"], r["rejected"]) for r in alices][0] == ("second answer", "first answer")
    assert len(rows) == 6
    assert list(rows[0]) == list(PAIR_COLUMNS)
    assert {r["prompt_id"] for r in rows} == {"lecture-1"}
    assert {r["agreement"] for r in rows} == {1.0}
    assert {r["split"] for r in rows} == {"train"}
    assert [(r["chosen_rank"], r["rejected_rank"]) for r in alices] == [(1, 2), (1, 3), (2, 3)]
    assert "alice" not in (out / "pairs.jsonl").read_text() + (out / "rankings.jsonl").read_text()


def test_manifest_has_parameters_counts_and_checksums_of_every_file(tmp_path, lecture):
    out = export(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["format"] == "jsonl" and manifest["parameters"]["mode"] == "labeler"
    assert manifest["counts"]["splits"] == {"train": {"prompts": 1, "rankings": 2, "pairs": 6}}
    assert manifest["project"]["slug"] == "helpful"
    assert manifest["labelhub_version"]
    assert set(manifest["files"]) == {"pairs.jsonl", "rankings.jsonl", "README.md"}
    for name, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((out / name).read_bytes()).hexdigest()


def test_rankings_file_has_every_raw_ranking_with_pseudonym_shown_order_and_time(tmp_path, lecture, alice):
    out = export(tmp_path)
    rankings = read_jsonl(out / "rankings.jsonl")
    assert len(rankings) == 2
    mine = next(r for r in rankings if r["labeler"] == labeler_pseudonym(lecture.project, alice.pk))
    c1, c2, c3 = completion_ids(lecture)
    assert mine["tiers"] == [[c2], [c1], [c3]]
    assert mine["shown_order"] == [c3, c2, c1]
    assert (mine["instructions_version"], mine["duration_ms"], mine["flagged"]) == (1, 30_000, [])


@pytest.mark.parametrize("split", [[], ["--test-fraction", "0.5", "--margin", "agreement"]])
def test_dataset_card_says_how_to_load_and_train(tmp_path, lecture, split):
    card = (export(tmp_path, *split) / "README.md").read_text()
    files = '{"train": "train.jsonl", "test": "test.jsonl"}' if split else '{"train": "pairs.jsonl"}'
    assert f'load_dataset("json", data_files={files})' in card
    assert "RewardTrainer" in card
    assert "Instructions versions used: 1" in card
    assert "Rank by helpfulness" in card  # the instructions text itself
    for block in re.findall(r"```python\n(.*?)```", card, re.S):
        compile(block, "README.md", "exec")  # the card's code is valid Python


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_parquet_and_csv_carry_the_same_rows_as_jsonl(tmp_path, lecture, fmt):
    expected = read_jsonl(export(tmp_path, name="jsonl") / "pairs.jsonl")
    out = export(tmp_path, "--format", fmt, name=fmt)
    if fmt == "parquet":
        table = pq.read_table(out / "pairs.parquet")
        assert table.column_names == list(PAIR_COLUMNS)
        rows = table.to_pylist()
    else:
        with open(out / "pairs.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert list(rows[0]) == list(PAIR_COLUMNS)
        expected = [{k: "" if v is None else str(v) for k, v in r.items()} for r in expected]
    assert rows == expected


def test_consensus_mode_has_one_pair_per_completion_pair_and_no_labeler(tmp_path, project, alice, bob, rita):
    carol = make_user("carol", "labeler", project)
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[2], [1], [3]])
    rank(prompt, bob, [[2], [1], [3]])
    rank(prompt, carol, [[1], [2], [3]])
    rows = read_jsonl(export(tmp_path, "--mode", "consensus") / "pairs.jsonl")
    c1, c2, c3 = completion_ids(prompt)
    assert [(r["chosen_id"], r["rejected_id"], r["labeler"]) for r in rows] == [(c2, c1, None), (c2, c3, None),
                                                                                (c1, c3, None)]
    assert [r["agreement"] for r in rows] == pytest.approx([2 / 3, 1, 1])


def test_flagged_rejected_pairs_every_ranked_completion_above_the_flagged_one(tmp_path, project, alice):
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[2], [1]], flagged=[3])
    dropped = read_jsonl(export(tmp_path, name="drop") / "pairs.jsonl")
    kept = read_jsonl(export(tmp_path, "--flagged", "rejected", name="rejected") / "pairs.jsonl")
    c1, c2, c3 = completion_ids(prompt)
    assert [(r["chosen_id"], r["rejected_id"]) for r in dropped] == [(c2, c1)]
    assert [(r["chosen_id"], r["rejected_id"], r["rejected_rank"]) for r in kept] == [(c2, c1, 2), (c2, c3, 3),
                                                                                      (c1, c3, 3)]


def test_ties_include_adds_the_tied_pair_with_agreement_one_half(tmp_path, project, alice):
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[1, 2], [3]])
    assert len(read_jsonl(export(tmp_path, name="drop") / "pairs.jsonl")) == 2
    rows = read_jsonl(export(tmp_path, "--ties", "include", name="include") / "pairs.jsonl")
    tied = [r for r in rows if r["chosen_rank"] == r["rejected_rank"]]
    assert len(rows) == 3 and len(tied) == 1 and tied[0]["agreement"] == 0.5


def test_canaries_never_reach_the_export(tmp_path, project, alice):
    prompt = make_prompt(project, 3)
    add_canary(prompt)
    rank(prompt, alice, [[2], [4], [1], [3]])
    out = export(tmp_path, "--flagged", "rejected")
    text = (out / "pairs.jsonl").read_text() + (out / "rankings.jsonl").read_text()
    canary = prompt.completions.get(source="canary")
    assert "canary" not in text
    rows = read_jsonl(out / "pairs.jsonl")
    assert len(rows) == 3 and canary.pk not in {r["chosen_id"] for r in rows} | {r["rejected_id"] for r in rows}
    assert {(r["chosen_rank"], r["rejected_rank"]) for r in rows} == {(1, 2), (1, 3), (2, 3)}


def test_test_fraction_splits_by_prompt_into_train_and_test_files(tmp_path, project, alice, bob):
    for i in range(40):
        prompt = make_prompt(project, 3, external_id=f"q{i}")
        rank(prompt, alice, [[1], [2], [3]])
        rank(prompt, bob, [[2], [1], [3]])
    out = export(tmp_path, "--test-fraction", "0.25", "--seed", "3")
    train, test = read_jsonl(out / "train.jsonl"), read_jsonl(out / "test.jsonl")
    assert not (out / "pairs.jsonl").exists()
    assert {r["split"] for r in train} == {"train"} and {r["split"] for r in test} == {"test"}
    assert not {r["prompt_id"] for r in train} & {r["prompt_id"] for r in test}
    assert len(train) + len(test) == 40 * 6 and test
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["splits"]["test"]["pairs"] == len(test)
    assert manifest["counts"]["splits"]["test"]["prompts"] == len({r["prompt_id"] for r in test})
    again = export(tmp_path, "--test-fraction", "0.25", "--seed", "3", name="again")
    assert (again / "test.jsonl").read_bytes() == (out / "test.jsonl").read_bytes()


@pytest.mark.parametrize(("margin", "expected"), [("rank-gap", [1.0, 2.0, 1.0]), ("agreement", [1.0, 1.0, 1.0])])
def test_margin_adds_the_margin_column(tmp_path, lecture, alice, margin, expected):
    rows = read_jsonl(export(tmp_path, "--margin", margin) / "pairs.jsonl")
    mine = [r for r in rows if r["labeler"] == labeler_pseudonym(lecture.project, alice.pk)]
    assert [r["margin"] for r in mine] == expected
    assert list(rows[0]) == [*PAIR_COLUMNS, "margin"]


def test_complete_only_keeps_prompts_ranked_by_all_k_labelers(tmp_path, project, alice, bob):
    project.labelers_per_prompt = 2
    project.save()
    complete, partial = make_prompt(project, 3, external_id="done"), make_prompt(project, 3, external_id="half")
    rank(complete, alice, [[1], [2], [3]])
    rank(complete, bob, [[1], [2], [3]])
    rank(partial, alice, [[1], [2], [3]])
    assert {r["prompt_id"] for r in read_jsonl(export(tmp_path, name="all") / "pairs.jsonl")} == {"done", "half"}
    rows = read_jsonl(export(tmp_path, "--complete-only", name="complete") / "pairs.jsonl")
    assert {r["prompt_id"] for r in rows} == {"done"}


def test_exclude_labelers_below_leaves_out_the_labeler_who_inverts_the_order(tmp_path, project, alice, bob):
    mallory = make_user("mallory", "labeler", project)
    for _ in range(5):
        prompt = make_prompt(project, 3)
        rank(prompt, alice, [[1], [2], [3]])
        rank(prompt, bob, [[1], [2], [3]])
        rank(prompt, mallory, [[3], [2], [1]])
    out = export(tmp_path, "--exclude-labelers-below", "0.5")
    labelers = {r["labeler"] for r in read_jsonl(out / "pairs.jsonl")}
    assert labeler_pseudonym(project, mallory.pk) not in labelers
    assert labelers == {labeler_pseudonym(project, alice.pk), labeler_pseudonym(project, bob.pk)}
    assert len(read_jsonl(out / "rankings.jsonl")) == 10
    # Agreement is over the labelers kept: alice and bob agree on everything.
    assert {r["agreement"] for r in read_jsonl(out / "pairs.jsonl")} == {1.0}
    assert json.loads((out / "manifest.json").read_text())["counts"]["labelers_excluded"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xlsx"], "--format must be one of jsonl, parquet, csv"),
        (["--mode", "vote"], "--mode must be one of labeler, consensus"),
        (["--flagged", "keep"], "--flagged must be one of drop, rejected"),
        (["--ties", "maybe"], "--ties must be one of drop, include"),
        (["--test-fraction", "1.5"], "--test-fraction must be between 0 and 1"),
        (["--test-fraction", "abc"], "--test-fraction must be a number"),
        (["--exclude-labelers-below", "2"], "--exclude-labelers-below must be between 0 and 1"),
        (["--margin", "big"], "--margin must be one of agreement, rank-gap"),
    ],
)
def test_bad_option_is_a_command_error_naming_it(tmp_path, project, args, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(")):
        export(tmp_path, *args)
    assert not (tmp_path / "out").exists()


def test_unknown_project_is_a_command_error(tmp_path, db):
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("export_pairs", "--project", "nope", "--out", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_project_without_rankings_gives_an_empty_but_complete_bundle(tmp_path, project, capsys):
    out = export(tmp_path, name="a/b")
    assert "exported 0 pairs" in capsys.readouterr().out
    assert (out / "pairs.jsonl").read_bytes() == b""
    assert json.loads((out / "manifest.json").read_text())["counts"]["pairs"] == 0


def run_manage(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_command_line_errors_exit_1_on_stderr_without_traceback(tmp_path):
    # Options are checked before the database is touched: no database needed here.
    fresh = {"LABELHUB_VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": "", "REDIS_URL": ""}
    bad = run_manage("export_pairs", "--project", "cli", "--out", str(tmp_path / "x"), "--format", "xlsx", env=fresh)
    assert (bad.returncode, bad.stdout) == (1, "")
    assert "--format must be one of jsonl, parquet, csv" in bad.stderr and "Traceback" not in bad.stderr
    missing = run_manage("export_pairs", "--out", str(tmp_path / "x"), env=fresh)
    assert missing.returncode == 1 and "--project SLUG is required" in missing.stderr
    assert not (tmp_path / "x").exists()
