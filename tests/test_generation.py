"""Completion generation against a real OpenAI-compatible server on 127.0.0.1 (tests/llm_server.py):
top-up to the target, recorded parameters, concurrency limit, retries, timeouts, resume without
duplicates, and the same task run eagerly and through a real Celery worker."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count
from django.test import Client

from annotations.generating import MAX_EXTRA_ASKS, generation_status, run_generation, save_generated
from annotations.generation import Generated, GenerationConfig, backoff_delay, normalized_text
from annotations.models import Completion, GenerationJob, Prompt
from annotations.tasks import generate_completions

from .factories import PASSWORD, make_project, make_prompt
from .llm_server import FakeLLM


@pytest.fixture
def llm():
    with FakeLLM(latency=0.0) as server:
        yield server


@pytest.fixture
def fast_retries(settings):
    settings.LLM_BACKOFF_SECONDS = 0.01
    settings.LLM_MAX_BACKOFF_SECONDS = 0.05
    settings.LLM_TIMEOUT_SECONDS = 5
    settings.LLM_MAX_RETRIES = 3


def generating_project(llm, slug="gen", **options):
    options = {
        "generation_enabled": True, "target_completions": 4, "llm_base_url": llm.base_url,
        "llm_model": "fixture-model", "llm_api_key_env": "LABELHUB_TEST_LLM_KEY", "temperature": 0.7,
        "top_p": 0.9, "max_tokens": 64, "system_prompt": "Be brief.", "generation_concurrency": 4, **options,
    }
    return make_project(slug, **options)


def assert_complete_without_duplicates(project, target=4):
    for prompt in Prompt.objects.filter(project=project):
        positions = list(prompt.completions.order_by("position").values_list("position", flat=True))
        assert positions == list(range(1, target + 1)), prompt
        assert prompt.num_completions == target
        assert prompt.generation_error == ""


def generated_count(project) -> int:
    return Completion.objects.filter(prompt__project=project, source="generated").count()


# --- pure parts ------------------------------------------------------------------------------------


def test_backoff_doubles_with_jitter_up_to_the_cap_and_honours_retry_after():
    config = GenerationConfig(base_url="http://x", model="m", backoff_seconds=1.0, max_backoff_seconds=8.0)
    for attempt, ceiling in [(0, 1), (1, 2), (2, 4), (3, 8), (6, 8)]:
        delays = [backoff_delay(attempt, config) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert backoff_delay(0, config, retry_after="3") == 3.0
    assert backoff_delay(0, config, retry_after="120") == 8.0


# --- eager runs ------------------------------------------------------------------------------------


def test_generation_tops_up_every_prompt_and_records_model_and_params(db, llm, fast_retries, monkeypatch):
    monkeypatch.setenv("LABELHUB_TEST_LLM_KEY", "sk-test")
    project = generating_project(llm)
    empty = make_prompt(project, 0, text="Why is the sky <b>blue</b>?")
    two = make_prompt(project, 2)
    full = make_prompt(project, 4)

    result = generate_completions.apply(args=[project.pk]).get()

    assert result["status"] == "done" and result["done"] == 6 and result["failed"] == 0
    assert len(llm.requests) == 6
    assert_complete_without_duplicates(project)
    assert full.completions.filter(source="generated").count() == 0
    generated = Completion.objects.filter(prompt=two, source="generated").order_by("position")
    assert [c.position for c in generated] == [3, 4]
    completion = Completion.objects.filter(prompt=empty).first()
    assert completion.source == "generated" and completion.model == "fixture-model"
    assert completion.text.endswith("to: Why is the sky <b>blue</b>?")
    assert {k: completion.params[k] for k in ("temperature", "top_p", "max_tokens", "system_prompt")} == {
        "temperature": 0.7, "top_p": 0.9, "max_tokens": 64, "system_prompt": "Be brief."
    }
    body = llm.requests[0]
    assert body["model"] == "fixture-model" and body["n"] == 1
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (0.7, 0.9, 64)
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert set(llm.authorizations) == {"Bearer sk-test"}
    job = GenerationJob.objects.get(project=project)
    assert (job.status, job.total, job.done, job.failed) == ("done", 6, 6, 0)
    assert job.finished_at is not None and "api_key" not in job.params


def test_second_run_generates_nothing(db, llm, fast_retries):
    project = generating_project(llm)
    make_prompt(project, 1)
    make_prompt(project, 0)
    run_generation(project.pk)
    requests_after_first = len(llm.requests)
    job = run_generation(project.pk)
    assert len(llm.requests) == requests_after_first == 7
    assert (job.total, job.done) == (0, 0)
    assert_complete_without_duplicates(project)


def test_concurrency_limit_is_respected(db, fast_retries):
    with FakeLLM(latency=0.05) as llm:
        project = generating_project(llm, generation_concurrency=3)
        for _ in range(6):
            make_prompt(project, 0)
        run_generation(project.pk)
    assert len(llm.requests) == 24
    assert llm.max_in_flight == 3


def test_429_and_5xx_are_retried(db, llm, fast_retries):
    project = generating_project(llm, generation_concurrency=1)
    make_prompt(project, 2)
    llm.fail_with([429, 500, 503])
    job = run_generation(project.pk)
    assert llm.statuses[:3] == [429, 500, 503]
    assert len(llm.requests) == 5  # three refused, then the two completions
    assert (job.done, job.failed) == (2, 0)
    assert_complete_without_duplicates(project)


def test_a_timeout_is_retried_then_the_prompt_is_marked_and_listed(db, llm, settings, fast_retries):
    settings.LLM_TIMEOUT_SECONDS = 0.2  # float seconds are accepted
    settings.LLM_MAX_RETRIES = 1
    llm.hang, llm.hang_seconds = True, 1.0
    project = generating_project(llm, generation_concurrency=1, target_completions=2)
    prompt = make_prompt(project, 0, external_id="slow-1")

    job = run_generation(project.pk)

    prompt.refresh_from_db()
    assert len(llm.requests) == 2  # one retry, then the remaining completion of this prompt is not tried
    assert "timed out" in prompt.generation_error and prompt.generation_attempts == 1
    assert (job.status, job.done, job.failed) == ("done", 0, 2)
    status = generation_status(project)
    assert status["failed_prompts_total"] == 1
    assert status["failed_prompts"][0]["external_id"] == "slow-1"
    assert "timed out" in status["failed_prompts"][0]["error"]


def test_rerun_after_the_server_died_half_way_generates_only_what_is_missing(db, llm, settings, fast_retries):
    settings.LLM_MAX_RETRIES = 0
    project = generating_project(llm, generation_concurrency=2)
    for _ in range(5):
        make_prompt(project, 0)
    llm.fail_after = 8  # the server "dies": every request after the eighth answers 500

    first = run_generation(project.pk)

    assert first.done == 8 and first.failed == 12
    assert generated_count(project) == 8
    assert Prompt.objects.filter(project=project).exclude(generation_error="").exists()

    llm.fail_after = None  # back up
    requests_before = len(llm.requests)
    second = run_generation(project.pk)

    assert len(llm.requests) - requests_before == 12 == second.total == second.done
    assert generated_count(project) == 20
    assert_complete_without_duplicates(project)


def test_a_job_left_running_by_a_killed_worker_is_resumed(db, llm, fast_retries):
    project = generating_project(llm)
    prompt = make_prompt(project, 0)
    # The killed worker had saved two completions and left its job "running".
    run_generation(project.pk, n=2)
    stale = GenerationJob.objects.create(project=project, status=GenerationJob.Status.RUNNING, total=4, done=2)

    resumed = run_generation(project.pk)

    assert resumed.pk == stale.pk and resumed.status == "done" and resumed.total == 2
    assert len(llm.requests) == 4
    assert list(prompt.completions.values_list("position", flat=True)) == [1, 2, 3, 4]


def test_a_completion_arriving_for_a_full_prompt_is_dropped(db):
    project = make_project("full")
    prompt = make_prompt(project, 3)
    generated = Generated(text="late", model="m")
    assert save_generated(prompt.pk, generated, {}, target=4) is True
    assert save_generated(prompt.pk, generated, {}, target=4) is False
    assert list(prompt.completions.values_list("position", flat=True)) == [1, 2, 3, 4]


def test_a_refused_api_key_fails_the_job_with_the_reason(db, llm, fast_retries):
    project = generating_project(llm)
    make_prompt(project, 0)
    llm.fail_with([401] * 10)
    job = run_generation(project.pk)
    assert job.status == "failed" and "401" in job.error
    assert generated_count(project) == 0


def test_no_model_configured_fails_the_job(db, llm, settings):
    settings.LLM_MODEL = ""
    project = generating_project(llm, llm_model="")
    make_prompt(project, 0)
    job = run_generation(project.pk)
    assert job.status == "failed" and "no model configured" in job.error
    assert llm.requests == []


def test_command_generates_with_n(db, llm, fast_retries):
    project = generating_project(llm)
    make_prompt(project, 0)
    call_command("generate_completions", "--project", project.slug, "--n", "3")
    assert generated_count(project) == 3


def test_command_fails_with_exit_status_when_completions_failed(db, llm, settings, fast_retries):
    settings.LLM_MAX_RETRIES = 0
    project = generating_project(llm)
    make_prompt(project, 0)
    llm.fail_with([500] * 4)
    with pytest.raises(CommandError, match="could not be generated"):
        call_command("generate_completions", "--project", project.slug)


# --- API and page ----------------------------------------------------------------------------------


def test_api_starts_generation_and_reports_progress(db, api, ada, llm, fast_retries, eager,
                                                    django_capture_on_commit_callbacks):
    project = generating_project(llm)
    make_prompt(project, 0)
    make_prompt(project, 2)
    before = api(ada).get(f"/api/projects/{project.slug}/generation/").json()
    assert before["missing_completions"] == 6 and before["job"] is None and before["prompts_not_ready"] == 1

    with django_capture_on_commit_callbacks(execute=True):
        response = api(ada).post(f"/api/projects/{project.slug}/generation/", {}, format="json")
    assert response.status_code == 202

    after = api(ada).get(f"/api/projects/{project.slug}/generation/").json()
    assert after["job"]["id"] == response.json()["id"]
    assert {k: after["job"][k] for k in ("status", "total", "done", "failed", "progress")} == {
        "status": "done", "total": 6, "done": 6, "failed": 0, "progress": 1.0
    }
    assert after["missing_completions"] == 0


def test_generation_api_is_for_admins_only(db, api, project, alice):
    assert api(alice).get("/api/projects/helpful/generation/").status_code == 403
    assert api(alice).post("/api/projects/helpful/generation/").status_code == 403


def test_admin_page_shows_progress_failures_and_errors_as_text(db, ada, llm, django_assert_max_num_queries):
    project = generating_project(llm)
    for i in range(5):
        prompt = make_prompt(project, 0, external_id=f"p{i}")
    Prompt.objects.filter(pk=prompt.pk).update(generation_error="HTTP 500: <script>alert(1)</script>")
    GenerationJob.objects.create(project=project, status="running", total=20, done=5, failed=4)
    client = Client()
    client.login(username="ada", password=PASSWORD)
    with django_assert_max_num_queries(16):
        page = client.get(f"/projects/{project.slug}/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "running — 5 of 20 generated, 4 failed" in html
    assert "HTTP 500: &lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html
    assert 'data-action="generate"' in html and 'type="file"' in html


def test_admin_page_button_queues_the_job_once_it_is_committed(db, ada, llm, fast_retries, eager,
                                                               django_capture_on_commit_callbacks):
    project = generating_project(llm)
    make_prompt(project, 2)
    client = Client()
    client.force_login(ada)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(f"/projects/{project.slug}/generate/")
    assert response.status_code == 302
    assert llm.requests == [] and len(callbacks) == 1  # nothing sent before the job row is committed
    callbacks[0]()
    job = GenerationJob.objects.get(project=project)
    assert (job.status, job.done) == ("done", 2)


def test_admin_page_is_hidden_from_labelers_and_strangers(db, project, alice):
    from .factories import make_user

    make_user("mallory")
    for username, expected in [("alice", 403), ("mallory", 404)]:
        client = Client()
        client.login(username=username, password=PASSWORD)
        assert client.get("/projects/helpful/").status_code == expected


# --- through a real Celery worker (PostgreSQL + Redis) ---------------------------------------------


@pytest.mark.worker
def test_worker_generates_with_concurrency_retries_and_params(celery_worker, fast_retries):
    with FakeLLM(latency=0.05) as llm:
        project = generating_project(llm, slug="worker-gen", generation_concurrency=3)
        for _ in range(5):
            make_prompt(project, 0)
        make_prompt(project, 3)
        llm.fail_with([429, 500])
        result = generate_completions.delay(project.pk).get(timeout=60)
    assert result["status"] == "done" and result["done"] == 21
    assert llm.max_in_flight == 3
    assert llm.statuses.count(429) == 1 and llm.statuses.count(500) == 1
    assert_complete_without_duplicates(project)
    params = Completion.objects.filter(prompt__project=project, source="generated").values_list("params", flat=True)
    assert {(p["temperature"], p["top_p"], p["max_tokens"]) for p in params} == {(0.7, 0.9, 64)}


@pytest.mark.worker
def test_worker_rerun_after_a_crash_fills_only_the_gaps(celery_worker, settings, fast_retries):
    settings.LLM_MAX_RETRIES = 0
    with FakeLLM() as llm:
        project = generating_project(llm, slug="worker-resume", generation_concurrency=2)
        for _ in range(4):
            make_prompt(project, 0)
        llm.fail_after = 6
        first = generate_completions.delay(project.pk).get(timeout=60)
        assert (first["done"], first["failed"]) == (6, 10)
        llm.fail_after = None
        requests_before = len(llm.requests)
        second = generate_completions.delay(project.pk).get(timeout=60)
    assert len(llm.requests) - requests_before == 10 == second["done"]
    assert_complete_without_duplicates(project)
    per_prompt = Completion.objects.filter(prompt__project=project).values("prompt").annotate(n=Count("pk"))
    assert {row["n"] for row in per_prompt} == {4}


@pytest.mark.worker
def test_worker_times_out_a_hanging_server_and_marks_the_prompt(celery_worker, settings, fast_retries):
    settings.LLM_TIMEOUT_SECONDS = 0.2
    settings.LLM_MAX_RETRIES = 1
    with FakeLLM() as llm:
        llm.hang, llm.hang_seconds = True, 1.0
        project = generating_project(llm, slug="worker-hang", target_completions=2, generation_concurrency=1)
        prompt = make_prompt(project, 0)
        result = generate_completions.delay(project.pk).get(timeout=60)
    prompt.refresh_from_db()
    assert result["failed"] == 2 and "timed out" in prompt.generation_error


# --- a model that repeats itself -------------------------------------------------------------------


def normalized_texts(prompt) -> list[str]:
    return [normalized_text(text) for text in prompt.completions.values_list("text", flat=True)]


def test_normalized_text_trims_collapses_whitespace_and_folds_case():
    assert normalized_text("  The ONE answer\n to:  Q ") == "the one answer to: q"
    assert normalized_text("Straße") == normalized_text("STRASSE")


def test_a_repeated_completion_is_asked_again_at_a_higher_temperature(db, llm, fast_retries):
    """At temperature 0 the fixture answers a prompt alike every time (in changing case and spacing),
    as greedy decoding does: each repeat is asked again, at temperature 1, and the prompt gets four
    different completions, one of them the greedy answer."""
    llm.repeats_below_temperature = 0.5
    project = generating_project(llm, temperature=0.0)
    empty = [make_prompt(project, 0, text=f"Question {i}?") for i in range(3)]
    imported = make_prompt(project, ["the ONE answer to: Capital?"], text="Capital?")  # already holds it

    job = run_generation(project.pk)

    assert (job.status, job.done, job.failed) == ("done", 3 * 4 + 3, 0)
    for prompt in [*empty, imported]:
        texts = normalized_texts(prompt)
        assert len(texts) == 4 and len(set(texts)) == 4, texts
        assert texts.count(normalized_text(f"the one answer to: {prompt.text}")) == 1
    assert len(llm.requests) == 3 * (4 + 3) + (3 + 3)  # each repeat asked once more
    temperatures = [body["temperature"] for body in llm.requests]
    assert temperatures.count(0.0) == 3 * 4 + 3 and temperatures.count(1.0) == 3 * 3 + 3
    asked_again = Completion.objects.filter(prompt__project=project, params__asked_again=1)
    assert asked_again.count() == 12 and {c.params["temperature"] for c in asked_again} == {1.0}
    assert not Completion.objects.filter(params__has_key="repeats_another_completion").exists()
    assert job.params["repeats"] == {"asked_again": 12, "kept": 0}


def test_a_model_that_only_repeats_is_asked_three_more_times_then_kept_and_noted(db, llm, fast_retries):
    llm.repeats_below_temperature = float("inf")
    project = generating_project(llm, temperature=0.0, target_completions=3, generation_concurrency=2)
    prompt = make_prompt(project, 0, text="Say hi.")

    job = run_generation(project.pk)

    assert (job.status, job.done) == ("done", 3)
    assert len(llm.requests) == 1 + 2 * (1 + MAX_EXTRA_ASKS) == 9
    completions = list(prompt.completions.order_by("position"))
    assert [c.position for c in completions] == [1, 2, 3]
    noted = [c for c in completions if c.params.get("repeats_another_completion")]
    assert len(noted) == 2 and {c.params["asked_again"] for c in noted} == {MAX_EXTRA_ASKS}
    assert len(set(normalized_texts(prompt))) == 1  # nothing else to be had: kept, and said so
    assert job.params["repeats"] == {"asked_again": 2 * MAX_EXTRA_ASKS, "kept": 2}
    assert generation_status(project)["job"]["repeats"] == {"asked_again": 6, "kept": 2}


def test_a_completion_repeating_a_stored_one_is_not_saved_directly(db):
    project = make_project("twice")
    prompt = make_prompt(project, ["Hello there."])
    assert save_generated(prompt.pk, Generated(text=" hello  THERE.", model="m"), {}, target=3) is False
    assert save_generated(prompt.pk, Generated(text="Good morning.", model="m"), {}, target=3) is True
    assert prompt.completions.count() == 2
