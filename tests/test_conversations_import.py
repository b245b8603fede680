"""Conversations in prompt-set files: JSONL and Parquet `messages`, checked line by line, all or nothing."""

import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from annotations.models import Prompt
from annotations.prompt_sets import PromptSetRejected, import_prompt_set

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "My house is too hot."},
    {"role": "assistant", "content": "Open a window?"},
    {"role": "user", "content": "It is hotter <b>outside</b>."},
]


def jsonl(*records: dict) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def rejected(project, content: bytes, filename: str = "set.jsonl") -> list[str]:
    with pytest.raises(PromptSetRejected) as caught:
        import_prompt_set(project, io.BytesIO(content), filename)
    assert not Prompt.objects.filter(project=project).exists()  # all or nothing
    return [str(problem) for problem in caught.value.errors]


def test_jsonl_conversation_is_stored_with_its_turns_and_last_user_message_as_text(project):
    content = jsonl(
        {"id": "c1", "messages": [*CHAT[:3], {**CHAT[3], "name": "ignored"}], "completions": ["Close it.", "Fan."]},
        {"id": "p1", "prompt": "Plain one", "completions": ["a", "b"]},
    )
    prompt_set = import_prompt_set(project, io.BytesIO(content), "set.jsonl")
    assert (prompt_set.prompts, prompt_set.completions) == (2, 4)
    chat = Prompt.objects.get(external_id="c1")
    assert chat.messages == CHAT  # extra keys dropped, order kept
    assert chat.text == "It is hotter <b>outside</b>."
    assert Prompt.objects.get(external_id="p1").messages is None  # a project may mix both


def test_parquet_messages_column_of_role_content_structs(project):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    table = pa.table({
        "id": ["c1", "p1"],
        "prompt": [None, "plain?"],
        "messages": pa.array([CHAT, None], pa.list_(message)),
        "completions": [["x", "y"], ["u", "v"]],
    })
    out = io.BytesIO()
    pq.write_table(table, out)
    import_prompt_set(project, io.BytesIO(out.getvalue()), "set.parquet")
    assert Prompt.objects.get(external_id="c1").messages == CHAT
    assert Prompt.objects.get(external_id="p1").messages is None


def test_parquet_with_only_a_messages_column_is_accepted(project):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    out = io.BytesIO()
    pq.write_table(pa.table({"messages": pa.array([CHAT[1:2]], pa.list_(message)),
                             "completions": [["x", "y"]]}), out)
    import_prompt_set(project, io.BytesIO(out.getvalue()), "set.parquet")
    assert Prompt.objects.get().text == "My house is too hot."


@pytest.mark.parametrize(("messages", "expected"), [
    ([{"role": "bot", "content": "hi"}], 'line 2: "messages" item 1 has an unknown role \'bot\': use system, user '
                                          "or assistant"),
    ([{"role": "user", "content": "  "}], 'line 2: "messages" item 1: "content" is empty'),
    ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
     "line 2: \"messages\" must end with a user message; the last is 'assistant'"),
    ([], 'line 2: "messages" must be a non-empty list of {"role": ..., "content": ...} objects'),
    ("hello", 'line 2: "messages" must be a non-empty list of {"role": ..., "content": ...} objects'),
    ([{"role": "user", "content": 3}], 'line 2: "messages" item 1: "content" must be a string, not a number'),
])
def test_bad_conversation_names_the_line_and_field_and_stores_nothing(project, messages, expected):
    content = jsonl({"prompt": "fine", "completions": ["a", "b"]}, {"messages": messages, "completions": ["a", "b"]})
    assert rejected(project, content) == [expected]


def test_prompt_and_messages_together_is_an_error(project):
    content = jsonl({"prompt": "x", "messages": CHAT, "completions": ["a", "b"]})
    assert rejected(project, content) == ['line 1: give either "prompt" or "messages", not both']


def test_bad_conversation_in_parquet_names_the_row(project):
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    out = io.BytesIO()
    pq.write_table(pa.table({"messages": pa.array([CHAT, [CHAT[2]]], pa.list_(message)),
                             "completions": [["x", "y"], ["x", "y"]]}), out)
    assert rejected(project, out.getvalue(), "set.parquet") == [
        "row 2: \"messages\" must end with a user message; the last is 'assistant'"]
