"""Generation sends the whole conversation, the project's system prompt first."""

from annotations.generation import chat_messages
from annotations.models import Completion
from annotations.tasks import generate_completions

from .factories import make_prompt
from .llm_server import FakeLLM
from .test_generation import fast_retries, generating_project  # noqa: F401 (fixture)

CHAT = [
    {"role": "system", "content": "Answer in French."},
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Bonjour"},
    {"role": "user", "content": "How hot is it?"},
]


def test_chat_messages_puts_the_project_system_prompt_before_the_conversation():
    assert chat_messages(CHAT, "Be brief.") == [{"role": "system", "content": "Be brief."}, *CHAT]
    assert chat_messages(CHAT, "") == CHAT
    assert chat_messages("plain", "") == [{"role": "user", "content": "plain"}]


def test_the_llm_server_receives_every_turn_of_a_conversation(db, fast_retries):  # noqa: F811
    with FakeLLM() as llm:
        project = generating_project(llm, target_completions=2)
        chat = make_prompt(project, 0, messages=CHAT)
        plain = make_prompt(project, 0, text="Plain question")
        result = generate_completions.apply(args=[project.pk]).get()
        assert result["done"] == 4
        bodies = [body["messages"] for body in llm.requests]
    system = {"role": "system", "content": "Be brief."}
    assert bodies.count([system, *CHAT]) == 2
    assert bodies.count([system, {"role": "user", "content": "Plain question"}]) == 2
    assert Completion.objects.filter(prompt=chat, source="generated").count() == 2
    assert Completion.objects.filter(prompt=plain, source="generated").count() == 2
