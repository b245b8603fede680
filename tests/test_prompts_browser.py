"""The prompts browser: who may open it, search, filters, pagination, one prompt's rankings side by
side (pseudonyms for researchers, usernames for admins), and queries that do not grow with the project."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from annotations.models import Assignment, Completion, Prompt, Ranking
from annotations.prompt_browser import PromptFilters, browse_prompts, parse_filters
from annotations.quality import labeler_pseudonym

from .export_builders import rank
from .factories import completion_ids, make_project, make_prompt, make_user


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Many users, none logging in with a password: hashing them slowly tests nothing here.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def page_of(client, user, url):
    client.force_login(user)
    return client.get(url)


def listed(response) -> list[str]:
    """The LabelHub ids of the prompts a list page shows, in order."""
    html = response.content.decode()
    return [chunk.split('"')[0] for chunk in html.split('data-prompt="')[1:]]


def ids(*prompts) -> list[str]:
    return [str(p.pk) for p in prompts]


def url(project, query: str = "") -> str:
    return f"/projects/{project.slug}/prompts/" + (f"?{query}" if query else "")


def build_big_project(slug: str, prompts: int, labelers: int = 3, ranked: int = 200):
    """A project of `prompts` prompts (3 completions each) built with bulk_create; the first
    `ranked` prompts have one ranking per labeler, every fifth of those prompts has its first
    labeler flag a completion, every
    seventh prompt failed generation and every third has a low stored agreement."""
    project = make_project(slug)
    crowd = [make_user(f"{slug}-l{i}", "labeler", project) for i in range(labelers)]
    rows = Prompt.objects.bulk_create(
        Prompt(project=project, external_id=f"{slug}-{i}", text=f"Question {i} about <b>basil</b>",
               num_completions=3, num_rankings=labelers if i < ranked else 0,
               agreement=(0.5 if i % 3 == 0 else 0.9) if i < ranked else None,
               generation_error="HTTP 500 from the model" if i % 7 == 0 else "")
        for i in range(prompts)
    )
    completions = Completion.objects.bulk_create(
        Completion(prompt=prompt, position=p, text=f"answer {p}") for prompt in rows for p in (1, 2, 3)
    )
    by_prompt: dict[int, list[int]] = {}
    for completion in completions:
        by_prompt.setdefault(completion.prompt_id, []).append(completion.pk)
    until = timezone.now() + timedelta(minutes=30)
    assignments = Assignment.objects.bulk_create(
        Assignment(project=project, prompt=prompt, labeler=labeler, status=Assignment.Status.SUBMITTED,
                   shown_order=by_prompt[prompt.pk], reserved_until=until)
        for prompt in rows[:ranked] for labeler in crowd
    )
    index = {prompt.pk: i for i, prompt in enumerate(rows)}
    Ranking.objects.bulk_create(
        Ranking(assignment=a, project=project, prompt_id=a.prompt_id, labeler_id=a.labeler_id,
                tiers=[[cid] for cid in a.shown_order[:2]],
                flagged=a.shown_order[2:] if index[a.prompt_id] % 5 == 0 and a.labeler_id == crowd[0].pk else [],
                shown_order=a.shown_order)
        for a in assignments
    )
    return project


# --- Who may open it ---------------------------------------------------------------------------------


def test_researchers_and_admins_open_the_list_and_a_prompt(client, project, rita, ada):
    prompt = make_prompt(project, 3)
    pat = make_user("pat", "admin", project)  # a project admin who is not staff
    for user in (rita, ada, pat):
        assert page_of(client, user, url(project)).status_code == 200
        assert page_of(client, user, f"/projects/{project.slug}/prompts/{prompt.pk}/").status_code == 200


def test_labelers_are_refused_and_outsiders_are_not_told_the_project_exists(client, project, alice):
    prompt = make_prompt(project, 3)
    detail = f"/projects/{project.slug}/prompts/{prompt.pk}/"
    assert page_of(client, alice, url(project)).status_code == 403
    assert page_of(client, alice, detail).status_code == 403
    mallory = make_user("mallory")
    assert page_of(client, mallory, url(project)).status_code == 404
    assert page_of(client, mallory, detail).status_code == 404


def test_anonymous_visitors_are_sent_to_the_login_page(client, project):
    response = client.get(url(project))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_prompt_of_another_project_is_not_found(client, project, rita):
    elsewhere = make_prompt(make_project("other"), 3)
    assert page_of(client, rita, f"/projects/{project.slug}/prompts/{elsewhere.pk}/").status_code == 404


def test_a_researcher_of_one_project_cannot_browse_another(client, project, rita):
    other = make_project("other")
    assert page_of(client, rita, url(other)).status_code == 404


# --- Search and filters ------------------------------------------------------------------------------


def test_search_matches_text_case_insensitively(client, project, rita):
    basil = make_prompt(project, 3, text="How do I keep BASIL alive?")
    make_prompt(project, 3, text="What is a monad?")
    assert listed(page_of(client, rita, url(project, "q=basil"))) == ids(basil)


def test_search_matches_the_files_id_exactly_and_labelhubs_id(client, project, rita):
    q7 = make_prompt(project, 3, external_id="q-7")
    make_prompt(project, 3, external_id="q-77")
    plain = make_prompt(project, 3, text="no id given")
    assert listed(page_of(client, rita, url(project, "q=q-7"))) == ids(q7)
    assert listed(page_of(client, rita, url(project, f"q={plain.pk}"))) == ids(plain)


def test_complete_lists_prompts_with_k_rankings(client, project, rita):
    done, half = make_prompt(project, 3), make_prompt(project, 3)
    labelers = [make_user(f"l{i}", "labeler", project) for i in range(3)]
    for labeler in labelers:
        rank(done, labeler, [[1], [2], [3]])
    rank(half, labelers[0], [[1], [2], [3]])
    response = page_of(client, rita, url(project, "complete=1"))
    assert listed(response) == ids(done)
    assert "3 / 3" in response.content.decode()


def test_disputed_uses_the_stored_agreement_below_075_by_default_and_below_changes_it(client, project, rita):
    low, middling, high, unmeasured = (make_prompt(project, 3) for _ in range(4))
    for prompt, agreement in ((low, 0.4), (middling, 0.8), (high, 1.0)):
        Prompt.objects.filter(pk=prompt.pk).update(agreement=agreement)
    response = page_of(client, rita, url(project, "disputed=1"))
    assert listed(response) == ids(low)
    assert "agreement below 0.75" in response.content.decode()
    assert listed(page_of(client, rita, url(project, "disputed=1&below=0.9"))) == ids(low, middling)
    assert unmeasured  # NULL agreement (fewer than two rankings) is never disputed


def test_a_bad_threshold_is_named_and_the_default_used(client, project, rita):
    low = make_prompt(project, 3)
    Prompt.objects.filter(pk=low.pk).update(agreement=0.5)
    response = page_of(client, rita, url(project, "disputed=1&below=lots"))
    assert response.status_code == 200
    assert "Disputed below: a number above 0 and at most 1" in response.content.decode()
    assert listed(response) == ids(low)


def test_has_flags_lists_prompts_where_any_ranking_flagged_a_completion(client, project, rita, alice, bob):
    flagged, clean = make_prompt(project, 3), make_prompt(project, 3)
    rank(flagged, alice, [[1], [2], [3]])
    rank(flagged, bob, [[1], [2]], flagged=[3])
    rank(clean, alice, [[1], [2], [3]])
    response = page_of(client, rita, url(project, "flagged=1"))
    assert listed(response) == ids(flagged)
    assert "flagged by 1" in response.content.decode()


def test_generation_failed_lists_prompts_with_a_generation_error(client, project, rita):
    failed, fine = make_prompt(project, 0), make_prompt(project, 3)
    Prompt.objects.filter(pk=failed.pk).update(generation_error="timeout after 3 attempts")
    response = page_of(client, rita, url(project, "failed=1"))
    assert listed(response) == ids(failed)
    assert 'data-mark="failed"' in response.content.decode()
    assert fine


def test_filters_combine_with_each_other_and_with_search(client, project, rita, alice, bob):
    both = make_prompt(project, 3, text="basil both")
    only_flagged = make_prompt(project, 3, text="basil flagged")
    only_disputed = make_prompt(project, 3, text="basil disputed")
    other_text = make_prompt(project, 3, text="monad both")
    for prompt in (both, only_flagged, other_text):
        rank(prompt, alice, [[1], [2]], flagged=[3])
    Prompt.objects.filter(pk__in=[both.pk, only_disputed.pk, other_text.pk]).update(agreement=0.3)
    assert listed(page_of(client, rita, url(project, "flagged=1&disputed=1"))) == ids(both, other_text)
    assert listed(page_of(client, rita, url(project, "q=basil&flagged=1&disputed=1"))) == ids(both)


def test_lowest_agreement_first_puts_unmeasured_prompts_last(client, project, rita):
    unmeasured, high, low = (make_prompt(project, 3) for _ in range(3))
    Prompt.objects.filter(pk=high.pk).update(agreement=0.9)
    Prompt.objects.filter(pk=low.pk).update(agreement=0.2)
    assert listed(page_of(client, rita, url(project))) == ids(unmeasured, high, low)
    response = client.get(url(project, "order=agreement"))
    assert listed(response) == ids(low, high, unmeasured)
    assert 'value="agreement" selected' in response.content.decode()
    assert "Order: one of" in client.get(url(project, "order=random")).content.decode()


def test_the_service_reads_filters_from_a_plain_mapping():
    filters = parse_filters({"q": "  basil ", "complete": "on", "below": "0.5"})
    assert filters == PromptFilters(q="basil", complete=True, below=0.5)
    assert filters.query_string() == "q=basil&complete=1&below=0.5"
    assert parse_filters({"below": "1.5"}).errors == {"below": [
        "Disputed below: a number above 0 and at most 1, not '1.5'."]}


def test_odd_searches_and_addresses_answer_without_an_error(client, project, rita):
    prompt = make_prompt(project, 3, text="basil")
    assert listed(page_of(client, rita, url(project, "q=bas%00il"))) == ids(prompt)
    assert "NUL character" in client.get(url(project, "q=bas%00il")).content.decode()
    assert listed(client.get(url(project, "q=" + "9" * 25))) == []
    assert listed(client.get(url(project, "q=%C2%B2"))) == []  # "²" is a digit to Python, not a number
    assert listed(client.get(url(project, "page=abc"))) == ids(prompt)
    assert client.get(f"/projects/{project.slug}/prompts/{'9' * 25}/").status_code == 404


# --- Pagination and queries -----------------------------------------------------------------------


def test_pages_hold_50_prompts_and_their_links_keep_the_filters(client, db):
    big = build_big_project("big", prompts=130, ranked=0)
    Prompt.objects.filter(project=big).update(generation_error="boom")
    response = page_of(client, make_user("rex", "researcher", big), url(big, "failed=1"))
    html = response.content.decode()
    assert len(listed(response)) == 50
    assert 'data-result-count="130"' in html
    assert 'href="?failed=1&amp;page=2" rel="next"' in html
    assert 'href="?failed=1&amp;page=3"' in html
    third = client.get(url(big, "failed=1&page=3"))
    assert len(listed(third)) == 30
    assert 'href="?failed=1&amp;page=2" rel="prev"' in third.content.decode()
    # A prompt opened from page 3 links back to page 3 of the same search.
    first_on_third = listed(third)[0]
    assert f'/prompts/{first_on_third}/?failed=1&amp;page=3"' in third.content.decode()
    detail = client.get(f"/projects/big/prompts/{first_on_third}/?failed=1&page=3").content.decode()
    assert 'href="/projects/big/prompts/?failed=1&amp;page=3" data-back' in detail


def test_a_page_past_the_end_shows_the_last_page(client, project, rita):
    prompts = [make_prompt(project, 3) for _ in range(2)]
    assert listed(page_of(client, rita, url(project, "page=99"))) == ids(*prompts)


def test_a_page_of_a_1000_prompt_project_takes_as_few_queries_as_a_small_one(
        client, project, rita, django_assert_max_num_queries):
    big = build_big_project("big", prompts=1000)
    researcher = make_user("rex", "researcher", big)
    small = make_project("small")
    make_user("sam", "researcher", small)
    make_prompt(small, 3)
    client.force_login(make_user("sue", "researcher", small))
    with CaptureQueriesContext(connection) as small_page:
        assert client.get(url(small)).status_code == 200
    client.force_login(researcher)
    for query in ("", "flagged=1&disputed=1", "q=basil&complete=1&failed=1&order=agreement&page=2"):
        with django_assert_max_num_queries(len(small_page)):
            response = client.get(url(big, query))
        assert response.status_code == 200
    assert len(listed(client.get(url(big, "failed=1")))) == 50
    assert len(small_page) <= 6  # session, user, project, roles, count, page


def test_the_big_projects_filters_find_what_the_builder_made(db):
    big = build_big_project("big", prompts=1000)
    flagged = browse_prompts(big, PromptFilters(flagged=True))
    assert flagged.count() == 40  # i % 5 == 0 below 200
    assert {prompt.flagging_rankings for prompt in flagged} == {1}
    assert browse_prompts(big, PromptFilters(disputed=True)).count() == 67  # i % 3 == 0 below 200
    assert browse_prompts(big, PromptFilters(failed=True)).count() == 143  # i % 7 == 0 below 1000
    assert browse_prompts(big, PromptFilters(complete=True, q="big-7")).count() == 1


# --- One prompt ------------------------------------------------------------------------------------


@pytest.fixture
def ranked_prompt(project, alice, bob):
    carol = make_user("carol", "labeler", project)
    prompt = make_prompt(project, 3)
    rank(prompt, alice, [[1], [2], [3]])
    rank(prompt, bob, [[1], [2], [3]])
    rank(prompt, carol, [[3], [2]], flagged=[1])
    return prompt


def cells_of(html: str, completion_id: int) -> list[str]:
    row = html.split(f'data-completion-row="{completion_id}"')[1].split("</tr>")[0]
    return [cell.split(">", 1)[1].split("<")[0].strip() or cell.split("<strong>")[1].split("<")[0]
            for cell in row.split("<td")[2:]]


def test_a_prompt_shows_each_labelers_tiers_and_the_consensus(client, project, ranked_prompt, rita):
    html = page_of(client, rita, f"/projects/{project.slug}/prompts/{ranked_prompt.pk}/").content.decode()
    first, second, third = completion_ids(ranked_prompt)
    assert cells_of(html, first) == ["1", "1", "flagged", "1"]
    assert cells_of(html, third) == ["3", "3", "1", "3"]
    assert html.index(f'data-completion-row="{first}"') < html.index(f'data-completion-row="{third}"')


def test_researchers_see_pseudonyms_and_never_usernames(client, project, ranked_prompt, rita, alice):
    html = page_of(client, rita, f"/projects/{project.slug}/prompts/{ranked_prompt.pk}/").content.decode()
    assert labeler_pseudonym(project, alice.pk) in html
    for name in ("alice", "bob", "carol"):
        assert name not in html


def test_admins_see_usernames(client, project, ranked_prompt, ada, alice):
    html = page_of(client, ada, f"/projects/{project.slug}/prompts/{ranked_prompt.pk}/").content.decode()
    for name in ("alice", "bob", "carol"):
        assert f">{name}</span>" in html
    assert labeler_pseudonym(project, alice.pk) in html  # as the column's tooltip, to match exports


def test_prompt_and_completion_text_is_shown_as_text(client, project, rita):
    prompt = make_prompt(project, ["<b>bold</b>", "<img src=x onerror=alert(1)>"], text="<script>x</script>")
    Prompt.objects.filter(pk=prompt.pk).update(generation_error="<i>upstream</i>")
    detail = page_of(client, rita, f"/projects/{project.slug}/prompts/{prompt.pk}/").content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in detail and "<script>x" not in detail
    assert "&lt;b&gt;bold&lt;/b&gt;" in detail and "&lt;img src=x" in detail and "<img src=x" not in detail
    assert "&lt;i&gt;upstream&lt;/i&gt;" in detail
    listing = client.get(url(project)).content.decode()
    assert "&lt;script&gt;x&lt;/script&gt;" in listing and "<script>x" not in listing


def test_the_prompt_page_takes_the_same_queries_for_3_or_10_rankings(client, project, rita):
    def measure(labelers: int) -> int:
        prompt = make_prompt(project, 4)
        for i in range(labelers):
            rank(prompt, make_user(f"r{labelers}-{i}", "labeler", project), [[1], [2], [3, 4]])
        client.force_login(rita)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(f"/projects/{project.slug}/prompts/{prompt.pk}/").status_code == 200
        return len(queries)

    assert measure(3) == measure(10) <= 9  # session, user, project, roles, prompt, completions,
    # rankings with their labelers, previous and next


def walk(html: str) -> tuple[str | None, str | None]:
    """The prompt ids the "previous" and "next" links lead to."""
    def target(action):
        found = re.search(rf'data-action="{action}-prompt" href="/projects/[^/]+/prompts/(\d+)/', html)
        return found and found.group(1)
    return target("previous"), target("next")


def test_previous_and_next_walk_the_filtered_list_in_its_order(client, project, rita):
    a, b, c, d, e = (make_prompt(project, 3) for _ in range(5))
    for prompt, agreement in ((a, 0.5), (b, 0.9), (c, 0.2), (e, 0.5)):
        Prompt.objects.filter(pk=prompt.pk).update(agreement=agreement)
    detail = f"/projects/{project.slug}/prompts/"
    client.force_login(rita)
    assert walk(client.get(f"{detail}{b.pk}/").content.decode()) == (str(a.pk), str(c.pk))
    assert walk(client.get(f"{detail}{a.pk}/").content.decode()) == (None, str(b.pk))
    # Disputed only: a, c, e; lowest agreement first: c (0.2), a (0.5), e (0.5), then b, d.
    assert walk(client.get(f"{detail}{c.pk}/?disputed=1").content.decode()) == (str(a.pk), str(e.pk))
    html = client.get(f"{detail}{a.pk}/?order=agreement&page=2").content.decode()
    assert walk(html) == (str(c.pk), str(e.pk))
    assert f'/prompts/{e.pk}/?order=agreement&amp;page=2"' in html
    assert walk(client.get(f"{detail}{e.pk}/?order=agreement").content.decode()) == (str(a.pk), str(b.pk))
    assert walk(client.get(f"{detail}{b.pk}/?order=agreement").content.decode()) == (str(e.pk), str(d.pk))
    assert walk(client.get(f"{detail}{d.pk}/?order=agreement").content.decode()) == (str(b.pk), None)


def test_the_quality_pages_old_prompt_address_redirects_here(client, project, ranked_prompt, rita, ada):
    old = f"/projects/{project.slug}/quality/prompts/{ranked_prompt.pk}/"
    for user in (rita, ada):
        response = page_of(client, user, old)
        assert response.status_code == 301
        assert response["Location"] == f"/projects/{project.slug}/prompts/{ranked_prompt.pk}/"


def test_the_old_address_answers_like_the_new_page_to_those_who_may_not_see_it(client, project, ranked_prompt,
                                                                                alice, rita):
    old = f"/projects/{project.slug}/quality/prompts/{ranked_prompt.pk}/"
    assert client.get(old).status_code == 302 and "/accounts/login/" in client.get(old)["Location"]
    assert page_of(client, alice, old).status_code == 403
    assert page_of(client, make_user("mallory"), old).status_code == 404
    elsewhere = make_prompt(make_project("other"), 3)
    assert page_of(client, rita, f"/projects/{project.slug}/quality/prompts/{elsewhere.pk}/").status_code == 404
