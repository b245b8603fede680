"""Prompt-set import: the file formats, every bad input (clear error, nothing stored), the three doors."""

import io
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from annotations.importing import MAX_ERRORS, PromptRecord, parse_prompt_set, validate_prompt_set
from annotations.models import Completion, Prompt, PromptSet
from annotations.prompt_sets import PromptSetRejected, import_prompt_set

from .factories import PASSWORD, make_prompt, make_user

GOOD_JSONL = (
    '{"id": "p1", "prompt": "My house is too hot.", "completions": ["Close the curtains.", "Move."]}\n'
    '{"id": "p2", "prompt": "Boil an egg?", "completions": [{"text": "Six minutes.", "model": "m-7b"}, "Ten."],'
    ' "metadata": {"topic": "food"}}\n'
    '{"id": "p3", "prompt": "Tab\\there, <b>bold</b>, back\\\\slash\\nnew line"}\n'
)


def db_state():
    """Everything an import could have written, to compare before and after a rejected file."""
    return (
        sorted(Prompt.objects.values_list("pk", "external_id", "text", "num_completions")),
        sorted(Completion.objects.values_list("pk", "prompt_id", "position", "text")),
    )


def rows(project):
    """The stored prompts and completions of a project, independent of database ids."""
    return [
        (p.external_id, p.text, p.metadata, p.num_completions,
         [(c.position, c.text, c.source, c.model) for c in p.completions.order_by("position")])
        for p in Prompt.objects.filter(project=project).order_by("external_id", "text").prefetch_related("completions")
    ]


def reject(project, content: bytes, filename: str) -> PromptSetRejected:
    before = db_state()
    with pytest.raises(PromptSetRejected) as caught:
        import_prompt_set(project, io.BytesIO(content), filename)
    assert db_state() == before
    assert PromptSet.objects.get(pk=caught.value.prompt_set.pk).status == PromptSet.Status.FAILED
    return caught.value


def messages(exc: PromptSetRejected) -> list[str]:
    return [str(problem) for problem in exc.errors]


def parquet_bytes(table: dict) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table(table), out)
    return out.getvalue()


# --- the pure parser --------------------------------------------------------------------------------


def test_parser_reads_bom_crlf_blank_lines_and_completion_objects():
    content = ("\ufeff" + GOOD_JSONL.replace("\n", "\r\n\r\n")).encode()
    records = list(parse_prompt_set(io.BytesIO(content), "set.jsonl", generation_enabled=False))
    assert all(isinstance(r, PromptRecord) for r in records)
    assert [r.number for r in records] == [1, 3, 5]  # blank lines count as lines
    assert records[0].external_id == "p1" and records[0].text == "My house is too hot."
    assert [(c.text, c.model) for c in records[1].completions] == [("Six minutes.", "m-7b"), ("Ten.", "")]
    assert json.loads(records[1].metadata_json) == {"topic": "food"}


def test_validation_reports_first_fifty_errors_and_the_total():
    content = "".join('{"prompt": ""}\n' for _ in range(120)).encode()
    report = validate_prompt_set(io.BytesIO(content), "set.jsonl", generation_enabled=False)
    assert report.total_errors == 120
    assert len(report.errors) == MAX_ERRORS
    assert str(report.errors[0]) == 'line 1: "prompt" is empty'
    assert str(report.errors[-1]) == 'line 50: "prompt" is empty'


# --- good files, each format ------------------------------------------------------------------------


def test_jsonl_import_stores_prompts_completions_and_counts(project):
    prompt_set = import_prompt_set(project, io.BytesIO(GOOD_JSONL.encode()), "set.jsonl")
    assert (prompt_set.status, prompt_set.prompts, prompt_set.completions) == ("done", 3, 4)
    assert rows(project) == [
        ("p1", "My house is too hot.", {}, 2,
         [(1, "Close the curtains.", "uploaded", ""), (2, "Move.", "uploaded", "")]),
        ("p2", "Boil an egg?", {"topic": "food"}, 2,
         [(1, "Six minutes.", "uploaded", "m-7b"), (2, "Ten.", "uploaded", "")]),
        ("p3", "Tab\there, <b>bold</b>, back\\slash\nnew line", {}, 0, []),
    ]
    assert set(Prompt.objects.values_list("prompt_set", flat=True)) == {prompt_set.pk}


def test_csv_import_reads_completion_columns_in_order_and_ignores_empty_cells(project):
    content = (
        "\ufeffid,prompt,completion_2,completion_1,completion_10\r\n"
        'c1,"Say ""hi""",second,first,tenth\r\n'
        "\r\n"
        'c2,"multi\nline",,,\r\n'
        ",no id,b,a,\r\n"
    ).encode()
    prompt_set = import_prompt_set(project, io.BytesIO(content), "set.csv")
    assert (prompt_set.prompts, prompt_set.completions) == (3, 5)
    stored = {p.text: [c.text for c in p.completions.order_by("position")] for p in Prompt.objects.all()}
    assert stored == {'Say "hi"': ["first", "second", "tenth"], "multi\nline": [], "no id": ["a", "b"]}
    assert Prompt.objects.get(text="no id").external_id is None


def test_parquet_import_reads_prompt_id_and_completion_lists(project):
    content = parquet_bytes({
        "id": ["q1", "q2"], "prompt": ["first?", "second?"], "completions": [["a", "b", "c"], None],
    })
    prompt_set = import_prompt_set(project, io.BytesIO(content), "set.parquet")
    assert (prompt_set.prompts, prompt_set.completions) == (2, 3)
    assert rows(project)[0] == ("q1", "first?", {}, 3, [(i, t, "uploaded", "") for i, t in enumerate("abc", 1)])


def test_one_completion_is_accepted_when_generation_is_on(project):
    project.generation_enabled = True
    project.save()
    import_prompt_set(project, io.BytesIO(b'{"prompt": "x", "completions": ["only"]}\n'), "set.jsonl")
    assert Prompt.objects.get().num_completions == 1


# --- bad files: a clear error, nothing stored ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b'{"prompt": "fine", "completions": ["a", "b"]}\n{"prompt": "caf\xe9"}\n',
         "line 2: invalid UTF-8 (byte 0xe9 at byte 16 of the line)"),
        (b'{"prompt": "fine"}\n\n{"prompt": "x",}\n', "line 3: invalid JSON (trailing comma is not allowed)"),
        (b'["a list"]\n', "line 1: expected a JSON object, got a list"),
        (b'{"id": "a", "completions": ["x", "y"]}\n', 'line 1: "prompt" is missing (or give "messages")'),
        (b'{"prompt": "   "}\n', 'line 1: "prompt" is empty'),
        (b'{"prompt": 42}\n', 'line 1: "prompt" must be a string, not a number'),
        (b'{"prompt": "x", "completions": "a, b"}\n', 'line 1: "completions" must be a list of strings'),
        (b'{"prompt": "x", "completions": ["a", 3]}\n',
         'line 1: "completions" must be a list of strings (or of {"text": ..., "model": ...} objects); '
         "item 2 is a number"),
        (b'{"prompt": "x", "completions": ["a", ""]}\n', 'line 1: "completions" item 2 is empty'),
        (b'{"prompt": "x", "id": true}\n', 'line 1: "id" must be a string or a whole number, not a boolean'),
        (b'{"prompt": "x", "metadata": [1]}\n', 'line 1: "metadata" must be an object, not a list'),
        (b'{"prompt": "x\\u0000y"}\n', 'line 1: "prompt" contains a NUL character'),
        (b'{"prompt": "x", "completions": ["only one"]}\n',
         'line 1: "completions" has only one completion: give at least two, or none and turn generation on '
         "for the project"),
        (b'{"prompt": "a", "id": "dup"}\n{"prompt": "b", "id": 7}\n{"prompt": "c", "id": "dup"}\n',
         "line 3: duplicate \"id\" 'dup': already used on line 1"),
        (b"", "the file is empty: no prompts found"),
        (b"\xef\xbb\xbf\r\n\r\n  \n", "the file is empty: no prompts found"),
    ],
    ids=["invalid-utf8", "invalid-json", "not-an-object", "missing-prompt", "empty-prompt", "prompt-type",
         "completions-type", "completion-item-type", "empty-completion", "id-type", "metadata-type", "nul",
         "one-completion", "duplicate-id-in-file", "empty-file", "only-bom-and-blank-lines"],
)
def test_bad_jsonl_is_rejected_with_its_line_and_nothing_is_stored(project, content, expected):
    make_prompt(project, 2, external_id="existing")
    assert messages(reject(project, content, "set.jsonl")) == [expected]


def test_errors_name_the_field(project):
    exc = reject(project, b'{"prompt": "x", "completions": "a"}\n', "set.jsonl")
    assert exc.errors[0].as_dict() == {
        "line": 1, "field": "completions", "message": 'line 1: "completions" must be a list of strings'
    }


def test_duplicate_id_of_an_earlier_upload_is_rejected(project):
    import_prompt_set(project, io.BytesIO(b'{"prompt": "a", "id": "p1"}\n'), "first.jsonl")
    exc = reject(project, b'{"prompt": "b", "id": "p2"}\n{"prompt": "c", "id": "p1"}\n', "second.jsonl")
    assert messages(exc) == ["line 2: \"id\" 'p1' already exists in this project"]


def test_same_id_in_another_project_is_fine(project):
    from .factories import make_project

    other = make_project("other")
    make_prompt(other, 2, external_id="p1")
    import_prompt_set(project, io.BytesIO(b'{"prompt": "a", "id": "p1"}\n'), "set.jsonl")
    assert Prompt.objects.filter(external_id="p1").count() == 2


def test_every_error_of_a_file_is_reported_not_only_the_first(project):
    content = b'{"prompt": ""}\n{"prompt": "ok"}\n{"prompt": "x", "completions": 5}\n'
    assert messages(reject(project, content, "set.jsonl")) == [
        'line 1: "prompt" is empty', 'line 3: "completions" must be a list of strings'
    ]


def test_unknown_extension_is_rejected(project):
    exc = reject(project, b'{"prompt": "x"}\n', "prompts.txt")
    assert messages(exc) == ["unknown file type \".txt\" in 'prompts.txt': use .jsonl, .csv or .parquet"]


def test_csv_without_prompt_column_is_rejected(project):
    exc = reject(project, b"id,question,completion_1\n1,hi,there\n", "set.csv")
    assert messages(exc) == ['row 1: the header has no "prompt" column']
    assert exc.errors[0].as_dict()["row"] == 1


def test_csv_errors_name_the_spreadsheet_row(project):
    content = b"prompt,completion_1,completion_2\nfine,a,b\n,a,b\nonly one,a,\n"
    assert messages(reject(project, content, "set.csv")) == [
        'row 3: "prompt" is empty',
        'row 4: "completions" has only one completion: give at least two, or none and turn generation on '
        "for the project",
    ]


def test_csv_invalid_utf8_names_the_row_and_column(project):
    exc = reject(project, b"prompt,completion_1,completion_2\nfine,a,b\nok,caf\xe9,b\n", "set.csv")
    assert messages(exc) == ["row 3: invalid UTF-8"]
    assert exc.errors[0].field == "completion_1"


def test_empty_csv_and_empty_parquet_are_rejected(project):
    assert messages(reject(project, b"", "set.csv")) == ["the file is empty: no header row"]
    assert messages(reject(project, b"prompt,id\n", "set.csv")) == ["the file has a header but no prompts"]
    empty = parquet_bytes({"prompt": pa.array([], pa.string())})
    assert messages(reject(project, empty, "set.parquet")) == ["the file is empty: no rows"]


def test_parquet_wrong_types_name_the_row(project):
    content = parquet_bytes({"prompt": ["fine", "also fine"], "completions": [["a", "b"], ["only"]]})
    assert messages(reject(project, content, "set.parquet")) == [
        'row 2: "completions" has only one completion: give at least two, or none and turn generation on '
        "for the project"
    ]
    assert messages(reject(project, b"not parquet at all", "set.parquet"))[0].startswith(
        "not a readable Parquet file"
    )


# --- the three doors ---------------------------------------------------------------------------------


@pytest.fixture
def ada_client(ada):
    client = Client()
    client.login(username="ada", password=PASSWORD)
    return client


def test_three_doors_import_the_same_file_to_the_same_rows(tmp_path, ada, api, ada_client):
    from .factories import make_project

    path = tmp_path / "set.jsonl"
    path.write_text(GOOD_JSONL, encoding="utf-8")
    by_cli, by_api, by_page = make_project("cli"), make_project("api"), make_project("page")

    call_command("import_prompts", str(path), "--project", "cli")
    with path.open("rb") as upload:
        response = api(ada).post("/api/projects/api/prompt-sets/", {"file": upload}, format="multipart")
    assert response.status_code == 201
    assert {k: response.json()[k] for k in ("prompts", "completions", "status")} == {
        "prompts": 3, "completions": 4, "status": "done"
    }
    with path.open("rb") as upload:
        page = ada_client.post("/projects/page/prompt-sets/", {"file": upload})
    assert page.status_code == 302

    assert rows(by_cli) == rows(by_api) == rows(by_page)
    assert len(rows(by_cli)) == 3


def test_command_reports_errors_on_stderr_and_fails(tmp_path, project):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prompt": "ok"}\n{"prompt": "x", "completions": {"a": 1}}\n')
    with pytest.raises(CommandError) as caught:
        call_command("import_prompts", str(path), "--project", project.slug)
    assert 'line 2: "completions" must be a list of strings' in str(caught.value)
    assert Prompt.objects.count() == 0


def test_command_exits_1_without_traceback(tmp_path, project):
    import subprocess
    import sys

    from .databases import subprocess_database_url

    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"prompt": ""}\n')
    env = {**os.environ, "DATABASE_URL": subprocess_database_url()}
    result = subprocess.run([sys.executable, "manage.py", "import_prompts", str(path), "--project", "nope"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "no project with slug 'nope'" in result.stderr


def test_api_answers_400_with_errors_and_total(api, ada, project):
    upload = io.BytesIO(b'{"prompt": "x", "completions": "a"}\n' + b'{"prompt": ""}\n' * 60)
    upload.name = "set.jsonl"
    response = api(ada).post("/api/projects/helpful/prompt-sets/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    body = response.json()
    assert body["total_errors"] == 61
    assert len(body["errors"]) == 50
    assert body["errors"][0] == {"line": 1, "field": "completions",
                                 "message": 'line 1: "completions" must be a list of strings'}
    assert Prompt.objects.count() == 0


def test_api_csv_errors_use_row(api, ada, project):
    upload = io.BytesIO(b"prompt,completion_1,completion_2\nok,a,b\n\n ,a,b\n")
    upload.name = "set.csv"
    response = api(ada).post("/api/projects/helpful/prompt-sets/", {"file": upload}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"][0]["row"] == 4


def test_api_refuses_files_over_the_upload_limit(api, ada, project, settings):
    settings.LABELHUB_MAX_UPLOAD_BYTES = 100
    upload = io.BytesIO(b'{"prompt": "%s"}\n' % (b"x" * 200))
    upload.name = "big.jsonl"
    response = api(ada).post("/api/projects/helpful/prompt-sets/", {"file": upload}, format="multipart")
    assert response.status_code == 413
    assert "upload limit" in response.json()["detail"]
    assert Prompt.objects.count() == 0


def test_only_admins_may_upload(api, project, alice):
    upload = io.BytesIO(b'{"prompt": "x"}\n')
    upload.name = "set.jsonl"
    assert api(alice).post("/api/projects/helpful/prompt-sets/", {"file": upload},
                           format="multipart").status_code == 403
    stranger = make_user("mallory")
    assert api(stranger).post("/api/projects/helpful/prompt-sets/", {"file": upload},
                              format="multipart").status_code == 404
    project_admin = make_user("pat", "admin", project)
    upload.seek(0)
    assert api(project_admin).post("/api/projects/helpful/prompt-sets/", {"file": upload},
                                   format="multipart").status_code == 201
    assert Prompt.objects.count() == 1


def test_api_accepts_parquet_with_completion_objects(api, ada, project):
    upload = io.BytesIO(parquet_bytes({
        "prompt": ["p?"], "completions": [[{"text": "a", "model": "m1"}, {"text": "b", "model": "m2"}]],
    }))
    upload.name = "set.parquet"
    response = api(ada).post("/api/projects/helpful/prompt-sets/", {"file": upload}, format="multipart")
    assert response.status_code == 201
    assert rows(project) == [(None, "p?", {}, 2, [(1, "a", "uploaded", "m1"), (2, "b", "uploaded", "m2")])]


def test_page_upload_of_a_bad_file_lists_its_errors_as_text(ada_client, project):
    upload = io.BytesIO(b'{"prompt": "<b>x</b>", "completions": ["<i>only</i>"]}\n')
    upload.name = "bad.jsonl"
    page = ada_client.post("/projects/helpful/prompt-sets/", {"file": upload}, follow=True)
    html = page.content.decode()
    assert "bad.jsonl was not imported (1 error, nothing stored)" in html
    assert "line 1: &quot;completions&quot; has only one completion" in html
    assert Prompt.objects.count() == 0
