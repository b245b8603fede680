"""The quality report from stored figures is the report recomputed from every ranking: on random
projects (hypothesis), through the real submit and revise paths, with canaries, ties, flags and a
possible misreader; and the backfill restores the stored figures from the rankings alone."""

import random

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotations.assignment import next_assignment, submit_ranking
from annotations.canaries import add_canaries
from annotations.export.reading import excluded_labelers
from annotations.models import Completion, Prompt, Ranking
from annotations.quality import (
    labeler_agreement,
    quality_report,
    recomputed_labeler_agreement,
    recomputed_quality_report,
)
from annotations.quality_store import refresh_project_stats
from annotations.revisions import revise_ranking

from .factories import completion_ids, make_project, make_prompt, make_user


def random_judgement(rng: random.Random, ids: list[int], canary: int | None, invert: bool, allow_ties: bool):
    """Tiers and flags of one labeler: mostly the ids' order (reversed by an inverter), with a
    swap, a tie or a flag now and then; the canary is flagged, put last, or (sometimes) missed."""
    order = [cid for cid in ids if cid != canary]
    if invert:
        order.reverse()
    if len(order) > 1 and rng.random() < 0.4:
        i = rng.randrange(len(order) - 1)
        order[i], order[i + 1] = order[i + 1], order[i]
    flagged = [order.pop()] if len(order) > 2 and rng.random() < 0.15 else []
    tiers = [[cid] for cid in order]
    if allow_ties and len(tiers) > 1 and rng.random() < 0.25:
        i = rng.randrange(len(tiers) - 1)
        tiers[i:i + 2] = [tiers[i] + tiers[i + 1]]
    if canary is not None:
        fate = rng.random()
        if fate < 0.4:
            flagged.append(canary)
        elif fate < 0.8:
            tiers.append([canary])
        else:
            tiers.insert(0, [canary])
    return tiers, sorted(flagged)


def label_randomly(project, labelers, rng: random.Random, inverters=(), revise_share: float = 0.0):
    """Every labeler takes tasks until there is none left, through next and submit; some rankings
    are then revised."""
    submitted = []
    for labeler in labelers:
        while (task := next_assignment(project, labeler)) is not None:
            canary = Completion.objects.filter(prompt_id=task.prompt_id, source="canary").values_list(
                "pk", flat=True).first()
            tiers, flagged = random_judgement(rng, completion_ids(task.prompt), canary, labeler in inverters,
                                              project.allow_ties)
            submit_ranking(task.pk, labeler, tiers=tiers, flagged=flagged, duration_ms=rng.choice(
                [None, rng.randint(500, 90_000)]))
            submitted.append((task.pk, labeler, task.prompt, canary))
    for assignment_id, labeler, prompt, canary in submitted:
        if rng.random() < revise_share:
            tiers, flagged = random_judgement(rng, completion_ids(prompt), canary, False, project.allow_ties)
            revise_ranking(assignment_id, labeler, tiers=tiers, flagged=flagged)


def assert_stored_equals_recomputed(project) -> None:
    stored, recomputed = quality_report(project), recomputed_quality_report(project)
    assert stored == recomputed  # every figure, floats included: equal, not approximately
    assert labeler_agreement(project) == recomputed_labeler_agreement(project)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 2**32 - 1),
    prompts=st.integers(1, 8),
    completions=st.lists(st.integers(2, 5), min_size=1, max_size=8),
    labelers=st.integers(2, 5),
    per_prompt=st.integers(2, 4),
    allow_ties=st.booleans(),
    canaries=st.booleans(),
)
def test_stored_report_equals_the_recomputed_one_on_random_projects(
    db, seed, prompts, completions, labelers, per_prompt, allow_ties, canaries
):
    rng = random.Random(seed)
    with transaction.atomic():
        project = make_project(labelers_per_prompt=per_prompt, allow_ties=allow_ties,
                               canaries_enabled=canaries, canary_share=0.5 if canaries else 0.0)
        for i in range(prompts):
            make_prompt(project, completions[i % len(completions)])
        if canaries:
            add_canaries(project.pk)
        crowd = [make_user(f"labeler-{seed}-{i}", "labeler", project) for i in range(labelers)]
        label_randomly(project, crowd, rng, inverters=crowd[-1:] if rng.random() < 0.5 else (), revise_share=0.3)
        assert_stored_equals_recomputed(project)
        transaction.set_rollback(True)


def crowd_with_misreader_of(project, prompts: int = 24, seed: int = 7):
    """Four careful labelers and one who inverts the order, `prompts` prompts of 4 completions ranked by all."""
    project.labelers_per_prompt = 5
    project.save()
    for _ in range(prompts):
        make_prompt(project, 4)
    crowd = [make_user(f"careful-{i}", "labeler", project) for i in range(4)]
    inverter = make_user("inverter", "labeler", project)
    label_randomly(project, [*crowd, inverter], random.Random(seed), inverters=[inverter])
    return crowd, inverter


@pytest.fixture
def crowd_with_misreader(project):
    return crowd_with_misreader_of(project)


def test_stored_report_distrusts_the_misreader_as_the_recomputed_one_does(project, crowd_with_misreader):
    _, inverter = crowd_with_misreader
    report = quality_report(project)
    assert [row.user_id for row in report.possible_misreaders] == [inverter.pk]
    assert_stored_equals_recomputed(project)
    # --exclude-labelers-below reads the same scores.
    assert excluded_labelers(project, 0.5) == {inverter.pk}


def test_backfill_restores_the_stored_figures_from_the_rankings(project, crowd_with_misreader):
    before = quality_report(project)
    Ranking.objects.filter(project=project).update(loo_share=None, has_tie=False, num_flagged=0, num_judged=0,
                                                   canary=0)
    Prompt.objects.filter(project=project).update(agreement=None, quality_shape=None)
    assert refresh_project_stats(project.pk) == Ranking.objects.filter(project=project).count()
    assert quality_report(project) == before == recomputed_quality_report(project)


def test_report_queries_do_not_grow_with_prompts(project, alice, bob):
    rng = random.Random(3)
    carol = make_user("carol", "labeler", project)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            quality_report(project)
        return len(captured)

    make_prompt(project, 3)
    label_randomly(project, [alice, bob, carol], rng)
    few = queries()
    for _ in range(10):
        make_prompt(project, 4)
    label_randomly(project, [alice, bob, carol], rng)
    assert queries() == few


def test_submit_stores_the_leave_one_out_agreement_of_the_prompts_other_rankings(project, alice, bob):
    carol = make_user("carol", "labeler", project)
    prompt = make_prompt(project, 3)
    a, b, c = completion_ids(prompt)
    for labeler, tiers in ((alice, [[a], [b], [c]]), (bob, [[a], [b], [c]])):
        task = next_assignment(project, labeler)
        submit_ranking(task.pk, labeler, tiers=tiers, flagged=[])
    shares = dict(Ranking.objects.filter(prompt=prompt).values_list("labeler_id", "loo_share"))
    assert shares == {alice.pk: 1.0, bob.pk: 1.0}
    task = next_assignment(project, carol)
    submit_ranking(task.pk, carol, tiers=[[c], [b], [a]], flagged=[])
    # Alice's others are now bob and carol, evenly split on every pair: nothing decided.
    shares = dict(Ranking.objects.filter(prompt=prompt).values_list("labeler_id", "loo_share"))
    assert shares == {alice.pk: None, bob.pk: None, carol.pk: 0.0}
    prompt.refresh_from_db()
    assert prompt.quality_shape is not None and prompt.agreement == pytest.approx(1 / 3)


def test_refresh_quality_stats_command_refreshes_the_named_project(project, alice, bob):
    from django.core.management import call_command
    from django.core.management.base import CommandError

    make_prompt(project, 3)
    label_randomly(project, [alice, bob], random.Random(5))
    Ranking.objects.filter(project=project).update(loo_share=None)
    call_command("refresh_quality_stats", "--project", project.slug)
    assert set(Ranking.objects.filter(project=project).values_list("loo_share", flat=True)) != {None}
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        call_command("refresh_quality_stats", "--project", "nope")


def test_stored_report_has_the_recomputed_beyond_k_figures_of_adaptive_overlap(db):
    """Prompts that took labelers beyond k: the stored report reads only those prompts' rankings
    and finds the same agreement at k and now as the recomputed one."""
    project = make_project(labelers_per_prompt=2, max_labelers_per_prompt=4, agreement_target=0.9)
    for _ in range(12):
        make_prompt(project, 4)
    crowd = [make_user(f"adaptive-{i}", "labeler", project) for i in range(5)]
    label_randomly(project, crowd, random.Random(11), inverters=crowd[-1:], revise_share=0.2)
    report = quality_report(project)
    assert report.overlap.prompts_beyond_k > 0 and report.overlap.compared > 0
    assert report.overlap.agreement_at_k is not None and report.overlap.agreement_now is not None
    assert_stored_equals_recomputed(project)


def test_thumbs_projects_store_the_thumbs_agreement_and_decide_overlap_from_it(db):
    """A thumbs project's stored agreement is thumbs.py's majority share, at submit, revise and
    backfill alike, and adaptive overlap's decision reads that agreement."""
    project = make_project(feedback="thumbs", labelers_per_prompt=2, max_labelers_per_prompt=3,
                           agreement_target=0.9)
    prompt = make_prompt(project, 2)
    first, second = completion_ids(prompt)[:2]
    ada, bob = make_user("thumbs-ada", "labeler", project), make_user("thumbs-bob", "labeler", project)
    task_a = next_assignment(project, ada)
    submit_ranking(task_a.pk, ada, thumbs={str(first): "up", str(second): "up"}, flagged=[])
    task_b = next_assignment(project, bob)
    submit_ranking(task_b.pk, bob, thumbs={str(first): "up", str(second): "down"}, flagged=[])
    prompt.refresh_from_db()
    assert prompt.agreement == pytest.approx(0.75)  # (1.0 + 0.5) / 2: an even split on the second
    assert prompt.quality_shape is None and prompt.wanted_rankings == 3  # below 0.9: one more labeler
    revise_ranking(task_b.pk, bob, thumbs={str(first): "up", str(second): "up"}, flagged=[])
    prompt.refresh_from_db()
    assert prompt.agreement == 1.0 and prompt.wanted_rankings == 0
    Prompt.objects.filter(pk=prompt.pk).update(agreement=None)
    refresh_project_stats(project.pk)
    prompt.refresh_from_db()
    assert prompt.agreement == 1.0
    assert quality_report(project) == recomputed_quality_report(project)
    assert quality_report(project).krippendorff_alpha is None  # nominal: every value "up", nothing to expect


def test_recount_keeps_a_thumbs_projects_agreement_as_the_thumbs_measure(db):
    from annotations.recount import recount

    project = make_project(feedback="thumbs", labelers_per_prompt=2)
    prompt = make_prompt(project, 2)
    first, second = completion_ids(prompt)[:2]
    ada, bob = make_user("thumbs-ada", "labeler", project), make_user("thumbs-bob", "labeler", project)
    submit_ranking(next_assignment(project, ada).pk, ada, thumbs={str(first): "up", str(second): "up"}, flagged=[])
    submit_ranking(next_assignment(project, bob).pk, bob, thumbs={str(first): "up", str(second): "down"}, flagged=[])
    assert recount(project.pk).fixed["agreement"] == {}  # 0.75, the thumbs measure, is right
    Prompt.objects.filter(pk=prompt.pk).update(agreement=0.1)
    assert recount(project.pk).fixed["agreement"] == {prompt.pk: (0.1, pytest.approx(0.75))}
    prompt.refresh_from_db()
    assert prompt.agreement == pytest.approx(0.75)
