"""Who gets what next: order, expiry, skips, counters, query count, and safety under concurrency."""

import contextlib
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotations import assignment as assignment_module
from annotations.assignment import AssignmentConflict, next_assignment, skip_assignment, submit_ranking
from annotations.models import Assignment, Membership, Ranking

from .factories import make_project, make_prompt, make_user


def rank_in_shown_order(assignment, labeler, **kwargs):
    return submit_ranking(
        assignment.pk, labeler, tiers=[[cid] for cid in assignment.shown_order], flagged=[], **kwargs
    )


def counters(prompt) -> tuple[int, int]:
    prompt.refresh_from_db()
    return prompt.num_rankings, prompt.num_reserved


def test_next_prefers_the_prompt_closest_to_complete(project, alice, bob):
    first = make_prompt(project, 3)
    started = make_prompt(project, 3)
    skip_assignment(next_assignment(project, bob).pk, bob)  # bob passes on `first`…
    rank_in_shown_order(next_assignment(project, bob), bob)  # …and ranks `started`
    assert counters(first) == (0, 0) and counters(started) == (1, 0)
    assert next_assignment(project, alice).prompt_id == started.pk


def test_prompt_with_one_completion_is_never_offered(project, alice):
    make_prompt(project, 1)
    assert next_assignment(project, alice) is None


def test_counters_follow_reserve_submit_and_skip(project, alice, bob):
    prompt = make_prompt(project, 3)
    mine = next_assignment(project, alice)
    theirs = next_assignment(project, bob)
    assert counters(prompt) == (0, 2)
    rank_in_shown_order(mine, alice)
    assert counters(prompt) == (1, 1)
    skip_assignment(theirs.pk, bob)
    skip_assignment(theirs.pk, bob)  # a repeated skip gives nothing back twice
    assert counters(prompt) == (1, 0)


def test_expired_reservation_goes_back_to_the_pool(project, alice, bob):
    project.labelers_per_prompt = 1
    project.save()
    prompt = make_prompt(project, 3)
    start = timezone.now()
    held = next_assignment(project, alice, now=start)
    assert next_assignment(project, bob, now=start + timedelta(minutes=29)) is None
    later = start + timedelta(minutes=project.reservation_minutes, seconds=1)
    taken = next_assignment(project, bob, now=later)
    assert taken.prompt_id == prompt.pk
    held.refresh_from_db()
    assert held.status == Assignment.Status.EXPIRED
    assert counters(prompt) == (0, 1)


def test_expired_reservation_is_not_returned_as_the_open_one(project, alice):
    make_prompt(project, 3)
    make_prompt(project, 3)
    start = timezone.now()
    first = next_assignment(project, alice, now=start)
    second = next_assignment(project, alice, now=start + timedelta(minutes=project.reservation_minutes + 1))
    assert second.pk != first.pk


def test_late_submission_is_accepted_while_a_slot_is_free(project, alice):
    prompt = make_prompt(project, 3)
    start = timezone.now()
    held = next_assignment(project, alice, now=start)
    assignment_module.expire_stale(project, start + timedelta(hours=1))
    _, created = rank_in_shown_order(held, alice)
    assert created
    assert counters(prompt) == (1, 0)


def test_late_submission_is_a_conflict_once_the_slot_went_to_someone_else(project, alice, bob):
    project.labelers_per_prompt = 1
    project.save()
    prompt = make_prompt(project, 3)
    start = timezone.now()
    held = next_assignment(project, alice, now=start)
    next_assignment(project, bob, now=start + timedelta(hours=1))
    with pytest.raises(AssignmentConflict):
        rank_in_shown_order(held, alice)
    assert counters(prompt) == (0, 1)
    assert not Ranking.objects.exists()


def test_skipped_prompt_goes_to_someone_else_and_never_back(project, alice, bob):
    project.labelers_per_prompt = 1
    project.save()
    prompt = make_prompt(project, 3)
    skip_assignment(next_assignment(project, alice).pk, alice)
    assert next_assignment(project, alice) is None
    assert next_assignment(project, bob).prompt_id == prompt.pk


def test_next_twice_returns_the_same_open_assignment(project, alice):
    make_prompt(project, 3)
    make_prompt(project, 3)
    assert next_assignment(project, alice).pk == next_assignment(project, alice).pk
    assert Assignment.objects.count() == 1


def test_new_assignment_carries_its_completion_texts_in_shown_order(project, alice):
    prompt = make_prompt(project, ["one", "two", "three"])
    assignment = next_assignment(project, alice)
    assert [cid for cid, _ in assignment.shown_completions] == assignment.shown_order
    texts = dict(prompt.completions.values_list("pk", "text"))
    assert dict(assignment.shown_completions) == texts


def statements(captured) -> list[str]:
    """The SQL statements sent, BEGIN and COMMIT included (each is a round trip)."""
    return [q["sql"] for q in captured]


@pytest.mark.django_db(transaction=True)
def test_next_takes_at_most_five_queries():
    project = make_project()
    for _ in range(30):
        make_prompt(project, 4)
    warm, alice = make_user("warm", "labeler", project), make_user("alice", "labeler", project)
    next_assignment(project, warm)  # the first call of a process also sweeps expired reservations
    with CaptureQueriesContext(connection) as first:
        created = next_assignment(project, alice)
    with CaptureQueriesContext(connection) as repeated:
        again = next_assignment(project, alice)
    assert again.pk == created.pk
    # The claim, one statement and so its own transaction (no BEGIN and COMMIT round trips).
    assert len(statements(first)) == 1 and "INSERT INTO" in statements(first)[0], statements(first)
    # The claim finds the open one; then it and its completions' texts are read.
    assert len(statements(repeated)) == 3, statements(repeated)


@pytest.mark.django_db(transaction=True)
def test_next_task_endpoint_takes_at_most_five_queries():
    project = make_project()
    for _ in range(30):
        make_prompt(project, 4)
    warm, alice = make_user("warm", "labeler", project), make_user("alice", "labeler", project)
    next_assignment(project, warm)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=alice).key}")
    with CaptureQueriesContext(connection) as captured:
        response = client.post(f"/api/projects/{project.slug}/tasks/next/")
    assert response.status_code == 200
    assert len(response.json()["completions"]) == 4
    # Token, project with the caller's roles and instructions version, then the claim.
    assert len(statements(captured)) == 3, statements(captured)


# --- Concurrency (row locks) --------------------------------------------------------------------


def _labelers(count: int, prefix: str, project):
    """`count` labeler members of the project."""
    User = get_user_model()
    User.objects.bulk_create(User(username=f"{prefix}{i}") for i in range(count))
    labelers = list(User.objects.filter(username__startswith=prefix).order_by("pk"))
    Membership.objects.bulk_create(Membership(user=user, project=project, role="labeler") for user in labelers)
    return labelers


def _in_threads(labelers, work):
    """Run work(labeler) in one thread per labeler, all starting together; re-raise any error."""
    barrier = threading.Barrier(len(labelers))
    errors = []

    def run(labeler):
        try:
            barrier.wait()
            work(labeler)
        except Exception as exc:  # collected and re-raised in the test's thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(labeler,)) for labeler in labelers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(3))
def test_fifty_labelers_at_once_take_exactly_k_slots_per_prompt(run):
    project = make_project(labelers_per_prompt=3)
    prompts = [make_prompt(project, 3) for _ in range(12)]  # 36 slots for 50 labelers
    labelers = _labelers(50, f"crowd{run}-", project)
    got = []
    _in_threads(labelers, lambda labeler: got.append(next_assignment(project, labeler)))
    handed = [a for a in got if a is not None]
    assert len(handed) == 3 * len(prompts)
    per_prompt = {p.pk: counters(p) for p in prompts}
    assert set(per_prompt.values()) == {(0, 3)}
    assert Assignment.objects.filter(project=project).count() == 3 * len(prompts)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("run", range(3))
def test_fifty_labelers_labeling_until_done_rank_every_prompt_exactly_k_times(run):
    project = make_project(labelers_per_prompt=3)
    prompts = [make_prompt(project, 4) for _ in range(40)]  # 120 slots
    labelers = _labelers(50, f"loop{run}-", project)

    def label_until_done(labeler):
        while (task := next_assignment(project, labeler)) is not None:
            rank_in_shown_order(task, labeler)

    _in_threads(labelers, label_until_done)
    assert Ranking.objects.filter(project=project).count() == 3 * len(prompts)
    assert {counters(p) for p in prompts} == {(3, 0)}
    assert not Assignment.objects.filter(project=project).exclude(status=Assignment.Status.SUBMITTED).exists()


def _one_reserved_task(prefix: str):
    """A project (k = 2) with one prompt of 3 completions, and a labeler holding it."""
    project = make_project(labelers_per_prompt=2)
    prompt = make_prompt(project, 3)
    (labeler,) = _labelers(1, prefix, project)
    return project, prompt, labeler, next_assignment(project, labeler)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inside_a_transaction", [False, True])
def test_submission_stores_the_ranking_and_moves_each_counter_once(inside_a_transaction):
    # One path, whether or not the caller (a test, ATOMIC_REQUESTS, a command) opened a transaction.
    project, prompt, labeler, task = _one_reserved_task(f"submit-{inside_a_transaction}-")
    assert counters(prompt) == (0, 1)
    with transaction.atomic() if inside_a_transaction else contextlib.nullcontext():
        ranking, created = submit_ranking(task.pk, labeler, tiers=[[task.shown_order[0]], task.shown_order[1:]],
                                          flagged=[], duration_ms=1234)
    assert created
    stored = Ranking.objects.get(pk=ranking.pk)
    assert stored.tiers == [[task.shown_order[0]], sorted(task.shown_order[1:])]
    assert stored.shown_order == task.shown_order
    assert stored.instruction_version == project.current_instructions().version
    assert (stored.duration_ms, stored.labeler_id, stored.prompt_id) == (1234, labeler.pk, prompt.pk)
    assert stored.revision == 1
    assert Assignment.objects.get(pk=task.pk).status == Assignment.Status.SUBMITTED
    assert counters(prompt) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_the_same_ranking_sent_eight_times_at_once_is_stored_once():
    project, prompt, labeler, task = _one_reserved_task("double-click-")
    created = []
    _in_threads([labeler] * 8, lambda who: created.append(rank_in_shown_order(task, who)[1]))
    assert sorted(created) == [False] * 7 + [True]
    assert Ranking.objects.filter(assignment_id=task.pk).count() == 1
    assert counters(prompt) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_submission_racing_a_skip_either_stores_or_conflicts_never_both():
    project = make_project(labelers_per_prompt=2)
    (labeler,) = _labelers(1, "racer-", project)
    for _ in range(5):
        prompt = make_prompt(project, 3)
        task = next_assignment(project, labeler)
        outcomes = []

        def submit_or_skip(action, task=task, outcomes=outcomes):
            try:
                if action == "submit":
                    rank_in_shown_order(task, labeler)
                    outcomes.append("stored")
                else:
                    skip_assignment(task.pk, labeler)
                    outcomes.append("skipped")
            except AssignmentConflict:
                outcomes.append(f"{action} refused")

        actions = ["submit", "skip"]
        _in_threads(actions, submit_or_skip)
        assert sorted(outcomes) in (["skipped", "submit refused"], ["skip refused", "stored"])
        stored = "stored" in outcomes
        assert Assignment.objects.get(pk=task.pk).status == ("submitted" if stored else "skipped")
        assert Ranking.objects.filter(assignment_id=task.pk).count() == int(stored)
        assert counters(prompt) == (int(stored), 0)
