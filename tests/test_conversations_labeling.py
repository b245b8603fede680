"""A conversation in the labeling loop: tasks/next gives its turns, a ranking of it is stored as usual."""

from annotations.models import Ranking

from .factories import completion_ids, make_prompt

CHAT = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi <script>x</script>"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "What is RLHF?"},
]


def test_next_gives_the_conversation_and_its_last_user_message(api, project, alice):
    prompt = make_prompt(project, 3, messages=CHAT)
    first = api(alice).post("/api/projects/helpful/tasks/next/").json()
    assert first["prompt"] == {"id": prompt.pk, "text": "What is RLHF?", "messages": CHAT}
    again = api(alice).post("/api/projects/helpful/tasks/next/").json()  # the held reservation, re-read
    assert again["prompt"] == first["prompt"]


def test_a_conversation_is_ranked_and_reopened_with_its_turns(api, project, alice):
    prompt = make_prompt(project, 2, messages=CHAT)
    task = api(alice).post("/api/projects/helpful/tasks/next/").json()
    a, b = completion_ids(prompt)
    response = api(alice).post(f"/api/assignments/{task['assignment']}/ranking/", {"tiers": [[b], [a]]},
                               format="json")
    assert response.status_code == 201
    assert Ranking.objects.get().tiers == [[b], [a]]
    reopened = api(alice).get(f"/api/assignments/{task['assignment']}/ranking/").json()
    assert reopened["prompt"]["messages"] == CHAT


def test_load_demo_adds_a_conversation_project_and_a_thumbs_project(db):
    from django.core.management import call_command

    from annotations.models import Project
    from annotations.roles import labeling_project

    call_command("load_demo", "--password", "demo-password-1")
    chat, thumbs = Project.objects.get(slug="demo-chat"), Project.objects.get(slug="demo-thumbs")
    assert (chat.feedback, thumbs.feedback) == ("ranking", "thumbs")
    for project in (chat, thumbs):
        assert project.prompts.count() == 4 and not project.prompts.filter(messages__isnull=True).exists()
        assert project.prompts.get(external_id="chat-001").messages[0]["role"] == "system"
    from django.contrib.auth import get_user_model

    labeler = get_user_model().objects.get(username="labeler1")
    assert labeling_project(labeler, "demo-thumbs") == thumbs
