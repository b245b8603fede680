"""What the bundle records beyond the pairs: pairs of identical texts left out and counted, each
ranking's revision, and every instructions version with its text and rankings count."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command

from annotations.export.options import ExportOptions
from annotations.export.pairs import PromptRecord, RankingRecord, prompt_rows, same_text
from annotations.models import InstructionVersion
from annotations.quality import labeler_pseudonym

from .export_builders import rank
from .factories import completion_ids, make_prompt


def export(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "out"
    call_command("export_pairs", "--project", "helpful", "--out", str(out), *args)
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- identical completions ----------------------------------------------------------------------


def test_identical_means_equal_once_the_ends_are_trimmed_not_case_or_inner_spacing():
    assert same_text("Paris.", "Paris.")
    assert same_text("  Paris.\n", "Paris.")
    assert not same_text("Paris.", "paris.")
    assert not same_text("Paris is  big.", "Paris is big.")


@pytest.mark.parametrize("mode", ["labeler", "consensus"])
@pytest.mark.parametrize("ties", ["drop", "include"])
def test_a_pair_of_identical_texts_is_never_a_row_and_is_counted(mode, ties):
    prompt = PromptRecord(1, "p1", "Capital of France?", {1: "Paris.", 2: "Paris.\n", 3: "Lyon."})
    rankings = [RankingRecord(10, [[1], [2], [3]], [], [1, 2, 3]),
                RankingRecord(11, [[2, 1], [3]], [], [3, 2, 1])]
    result = prompt_rows(prompt, rankings, ExportOptions(mode=mode, ties=ties), str)
    texts = prompt.completions
    assert result.pairs and all(not same_text(texts[row[0]], texts[row[1]]) for row in result.pairs)
    assert {(row[0], row[1]) for row in result.pairs} == {(1, 3), (2, 3)}
    # labeler mode: 10's pair 1 > 2, and 11's tie of 1 and 2 when ties are included;
    # consensus: the consensus puts 1 above 2 (one pair, whatever the ties option)
    dropped = {("labeler", "drop"): 1, ("labeler", "include"): 2, ("consensus", "drop"): 1, ("consensus", "include"): 1}
    assert result.identical_dropped == dropped[mode, ties]


def test_prompt_with_distinct_texts_drops_nothing():
    prompt = PromptRecord(1, "p1", "q", {1: "a", 2: "b", 3: "c"})
    result = prompt_rows(prompt, [RankingRecord(10, [[1], [2], [3]], [], [1, 2, 3])], ExportOptions(), str)
    assert (len(result.pairs), result.identical_dropped) == (3, 0)


def test_export_leaves_out_identical_pairs_and_the_manifest_counts_them(tmp_path, project, alice, bob):
    twins = make_prompt(project, ["The same answer.", "The same answer. ", "A different answer."])
    rank(twins, alice, [[1], [2], [3]])
    rank(twins, bob, [[3], [2], [1]])
    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    out = export(tmp_path)
    rows = read_jsonl(out / "pairs.jsonl")
    assert all(row["chosen"].strip() != row["rejected"].strip() for row in rows)
    assert len(rows) == 2 * 2 + 3  # each labeler's twin pair is left out
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["identical_pairs_dropped"] == 2
    assert manifest["identical_pairs_dropped"] == 2
    assert manifest["counts"]["pairs"] == 7
    assert "left out: **2**" in (out / "README.md").read_text()


def test_manifest_counts_zero_identical_pairs_when_there_are_none(tmp_path, project, alice):
    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    manifest = json.loads((export(tmp_path) / "manifest.json").read_text())
    assert manifest["counts"]["identical_pairs_dropped"] == 0
    assert manifest["identical_pairs_dropped"] == 0


# --- revisions ----------------------------------------------------------------------------------


def test_rankings_file_carries_each_rankings_latest_revision_and_pairs_use_it(tmp_path, project, alice, bob):
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[3], [2], [1]], revision=2)  # alice revised her first ranking once
    rank(prompt, bob, [[1], [2], [3]])
    out = export(tmp_path)
    alice_is = labeler_pseudonym(project, alice.pk)
    revisions = {row["labeler"]: row["revision"] for row in read_jsonl(out / "rankings.jsonl")}
    assert revisions == {alice_is: 2, labeler_pseudonym(project, bob.pk): 1}
    c1, c2, c3 = completion_ids(prompt)
    alices = [(row["chosen_id"], row["rejected_id"]) for row in read_jsonl(out / "pairs.jsonl")
              if row["labeler"] == alice_is]
    assert alices == [(c3, c2), (c3, c1), (c2, c1)]  # the revised order
    assert "`revision`" in (out / "README.md").read_text()


# --- instructions versions ----------------------------------------------------------------------


def test_card_and_manifest_list_every_instructions_version_with_text_and_rankings(tmp_path, project, alice, bob):
    InstructionVersion.objects.create(project=project, version=2, text="# Rank by truth\n\nFacts ```first```.")
    InstructionVersion.objects.create(project=project, version=3, text="Not used yet.")
    for labeler, version in [(alice, 1), (bob, 2)]:
        prompt = make_prompt(project, 3)
        rank(prompt, labeler, [[1], [2], [3]], instruction_version=version)
    rank(make_prompt(project, 3), alice, [[2], [1], [3]], instruction_version=2)
    out = export(tmp_path)

    manifest = json.loads((out / "manifest.json").read_text())
    listed = [(v["version"], v["rankings"], v["text"]) for v in manifest["instructions_versions"]]
    assert listed == [(1, 1, "# Rank by helpfulness\n\nBest first."),
                      (2, 2, "# Rank by truth\n\nFacts ```first```."), (3, 0, "Not used yet.")]

    card = (out / "README.md").read_text()
    assert "| 1 |" in card and "| 2 |" in card and "| 3 |" in card
    for version, rankings in [(1, 1), (2, 2), (3, 0)]:
        assert f"### Instructions, version {version}" in card
        assert any(line.startswith(f"| {version} |") and line.endswith(f"| {rankings} |")
                   for line in card.splitlines())
    # Each text inside a fence longer than any backtick run in it: shown exactly, never closed early.
    assert "````markdown\n# Rank by truth\n\nFacts ```first```.\n````" in card
    assert "Instructions versions used: 1, 2" in card


def test_card_is_markdown_with_user_text_as_written(tmp_path, project, alice):
    project.name = "Tom & Jerry <b>answers</b>\n# not a heading"
    project.save()
    InstructionVersion.objects.filter(project=project).update(text="Prefer <em>short</em> & kind answers.")
    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    card = (export(tmp_path) / "README.md").read_text()
    assert card.startswith("# Tom & Jerry <b>answers</b> # not a heading: pairwise preferences")
    assert "Prefer <em>short</em> & kind answers." in card
    assert "&amp;" not in card and "&lt;" not in card


def test_manifest_version_is_the_installed_packages(tmp_path, project, alice):
    from importlib.metadata import version

    rank(make_prompt(project, 3), alice, [[1], [2], [3]])
    out = export(tmp_path)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labelhub_version"] == version("labelhub")
    assert f"LabelHub {version('labelhub')}" in (out / "README.md").read_text()
