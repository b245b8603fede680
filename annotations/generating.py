"""Generation jobs: top up every prompt of a project to its target number of completions.

Idempotent and resumable by construction: the work is computed from the database when a run starts,
and each completion is saved the moment it arrives, under a lock on its prompt, at the prompt's next
free position, and only while the prompt is still below the target. A second run, a run after a
killed worker, or two runs at once therefore generate only what is missing and never duplicate a
completion (the unique (prompt, position) constraint is the last line of defence).

HTTP requests run in a thread pool (up to the concurrency limit); only the calling thread touches
the database, so a Celery worker thread and `manage.py generate_completions` run the same code.
"""

import logging
import os
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import NamedTuple

from django.conf import settings
from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Q, Subquery, Sum
from django.utils import timezone

from .generation import (
    Conversation,
    FatalGenerationError,
    Generated,
    GenerationConfig,
    GenerationError,
    make_client,
    normalized_text,
)
from .leases import Lease, claim, new_owner, release
from .models import Completion, GenerationJob, Project, Prompt

logger = logging.getLogger(__name__)
# httpx logs every request at INFO: one line per completion would drown a worker's log.
logging.getLogger("httpx").setLevel(logging.WARNING)

PROGRESS_EVERY_SECONDS = 0.5
# A completion whose text repeats another of its prompt (trimmed, spaces collapsed, case-folded) is
# asked again up to this many times, then kept and noted: a model at temperature 0 answers a
# prompt alike every time, and four copies would give labelers nothing to rank.
MAX_EXTRA_ASKS = 3
# The temperature of those extra asks, when the project's is lower: asked again at temperature 0,
# a model repeats itself. The completion's params record the temperature it was made with.
REASK_MIN_TEMPERATURE = 1.0
ACTIVE = (GenerationJob.Status.QUEUED, GenerationJob.Status.RUNNING)


def generation_config(project: Project) -> GenerationConfig:
    """The project's settings, blank ones falling back to settings.LLM_*; the key from the named env var."""
    key_env = project.llm_api_key_env or settings.LLM_API_KEY_ENV
    return GenerationConfig(
        base_url=project.llm_base_url or settings.LLM_BASE_URL,
        model=project.llm_model or settings.LLM_MODEL,
        api_key=os.environ.get(key_env, "") if key_env else "",
        temperature=project.temperature,
        top_p=project.top_p,
        max_tokens=project.max_tokens,
        system_prompt=project.system_prompt,
        concurrency=max(1, project.generation_concurrency or settings.LLM_CONCURRENCY),
        timeout_seconds=float(settings.LLM_TIMEOUT_SECONDS),
        max_retries=settings.LLM_MAX_RETRIES,
        backoff_seconds=settings.LLM_BACKOFF_SECONDS,
        max_backoff_seconds=settings.LLM_MAX_BACKOFF_SECONDS,
    )


def active_job(project: Project) -> GenerationJob | None:
    return GenerationJob.objects.filter(project=project, status__in=ACTIVE).order_by("-created_at").first()


def start_generation(project: Project, n: int | None = None) -> tuple[GenerationJob, bool]:
    """(job, created): the project's unfinished job (returned as it is: a second "Generate" never
    queues another run of it) or a new one, queued. The caller (a view, the API) enqueues
    tasks.generate_completions for a new job after commit. The project row is locked so that two
    clicks at once make one job."""
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        job = active_job(project)
        if job is not None:
            return job, False
        return GenerationJob.objects.create(project=project, params={"target": n}), True


def fail_generation(job_id: int, error: str) -> None:
    """Mark an unfinished job failed with a message saying why (the broker was unreachable, say)."""
    GenerationJob.objects.filter(pk=job_id, status__in=ACTIVE).update(
        status=GenerationJob.Status.FAILED, error=error[:2000], finished_at=timezone.now(), owner=""
    )


def missing_completions(project: Project, target: int) -> int:
    below = Prompt.objects.filter(project=project, num_completions__lt=target)
    return below.aggregate(missing=Sum(target - F("num_completions")))["missing"] or 0


def _work(project: Project, target: int) -> Iterator[tuple[int, Conversation]]:
    """(prompt id, prompt text or conversation) once per missing completion, read in chunks."""
    below = Prompt.objects.filter(project=project, num_completions__lt=target).order_by("pk")
    rows = below.values_list("pk", "text", "messages", "num_completions").iterator(chunk_size=500)
    for prompt_id, text, messages, have in rows:
        for _ in range(target - have):
            yield prompt_id, messages or text


class Arrival(NamedTuple):
    """A completion that has just come back for a prompt, and how many times this missing
    completion was asked again because its text repeated another of the prompt."""

    prompt_id: int
    generated: Generated
    asks_again: int = 0
    temperature: float | None = None  # the temperature it was asked at, when not the project's


class Saved(NamedTuple):
    saved: int  # completions stored
    ask_again: list[Arrival]  # repeats to ask again (the arrival as it came back)
    repeats_kept: int  # repeats stored anyway, once the extra asks were used up


def save_generated(prompt_id: int, generated: Generated, params: dict, target: int) -> bool:
    """Store one completion at the prompt's next free position, unless the prompt already has
    enough or the completion repeats one of the prompt's."""
    return save_arrived([Arrival(prompt_id, generated)], params, target).saved == 1


def save_arrived(arrived: list[Arrival], params: dict, target: int, job_id: int | None = None) -> Saved:
    """Store the completions that have just arrived, in one transaction. Each prompt row is
    locked, so concurrent runs can neither overshoot the target nor reuse a position; under the
    lock a completion is compared with the prompt's stored ones (the same transaction sees those
    stored a moment ago), and a repeat is handed back to be asked again, up to MAX_EXTRA_ASKS
    times, then stored with a note in its params. The job's `done` counts them in the same
    transaction, so a worker killed at any moment leaves the count right."""
    saved, repeats_kept, again = 0, 0, []
    with transaction.atomic():
        # Do not wait for the WAL flush: a crash can lose only the last few completions, never
        # half of one, and the next run regenerates what is missing.
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")
        for arrival in sorted(arrived, key=lambda item: item.prompt_id):  # one lock order: no deadlock
            prompt_id, generated = arrival.prompt_id, arrival.generated
            siblings = Completion.objects.filter(prompt=OuterRef("pk"))
            prompt = (
                Prompt.objects.select_for_update().only("pk", "num_completions")
                .annotate(last_position=Subquery(siblings.order_by("-position").values("position")[:1]),
                          texts=ArraySubquery(siblings.values("text")))
                .get(pk=prompt_id)
            )
            if prompt.num_completions >= target:
                continue
            made_with = {**params, "finish_reason": generated.finish_reason}
            if arrival.temperature is not None:
                made_with["temperature"] = arrival.temperature
            if arrival.asks_again:
                made_with["asked_again"] = arrival.asks_again
            text = normalized_text(generated.text)
            if any(normalized_text(other) == text for other in prompt.texts):
                if arrival.asks_again < MAX_EXTRA_ASKS:
                    again.append(arrival)
                    continue
                made_with["repeats_another_completion"] = True  # kept: the model gave nothing else
                repeats_kept += 1
                logger.warning("prompt %s: kept a completion that repeats another after %s extra asks",
                               prompt_id, arrival.asks_again)
            Completion.objects.create(
                prompt_id=prompt_id, position=(prompt.last_position or 0) + 1, text=generated.text,
                source=Completion.Source.GENERATED, model=generated.model[:200], params=made_with,
            )
            changes = {"num_completions": F("num_completions") + 1}
            if prompt.num_completions + 1 >= target:
                changes["generation_error"] = ""
            Prompt.objects.filter(pk=prompt_id).update(**changes)
            saved += 1
        if saved and job_id is not None:
            GenerationJob.objects.filter(pk=job_id).update(done=F("done") + saved)
    return Saved(saved, again, repeats_kept)


def mark_failed(prompt_id: int, error: str) -> None:
    Prompt.objects.filter(pk=prompt_id).update(
        generation_error=error[:2000], generation_attempts=F("generation_attempts") + 1
    )


def run_generation(project_id: int, n: int | None = None, client=None) -> GenerationJob:
    """Generate every missing completion of the project (up to `n` per prompt, default the project's
    target) in this process, in one go (`manage.py generate_completions`). Resumes the project's
    unfinished job if there is one; returns it untouched when a live worker runs it."""
    project = Project.objects.get(pk=project_id)
    job, _ = start_generation(project, n)
    if n and job.params.get("target") != n:
        GenerationJob.objects.filter(pk=job.pk).update(params={**job.params, "target": n})
    job, _ = run_generation_job(job.pk, client=client)
    return job


def run_generation_job(job_id: int, *, owner: str | None = None, client=None,
                       deadline: float | None = None) -> tuple[GenerationJob, bool]:
    """Run the generation job, claimed with a lease, until nothing is missing or, with a
    `deadline` (time.monotonic()), until it passes. Returns (job, more): `more` when the deadline
    cut the run short; the job is then queued again for the caller to send its next chunk.
    A job this worker cannot claim (done, or owned by a live worker) is returned untouched."""
    owner = owner or new_owner()
    if not claim(GenerationJob, job_id, owner):
        return GenerationJob.objects.get(pk=job_id), False
    lease = Lease(GenerationJob, job_id, owner)
    job = GenerationJob.objects.select_related("project").get(pk=job_id)
    project = job.project
    target = job.params.get("target") or project.target_completions
    config = generation_config(project)
    missing = missing_completions(project, target)
    if job.started_at is None:  # the first chunk; a later one (or a resumed job) keeps its counts
        job.started_at, job.done = timezone.now(), 0
    job.finished_at, job.error = None, ""
    job.params = {**job.params, "target": target, **config.public()}
    job.total, job.failed = job.done + missing, 0
    GenerationJob.objects.filter(pk=job_id, owner=owner).update(
        started_at=job.started_at, finished_at=None, error="", params=job.params,
        total=job.total, done=job.done, failed=0,
    )
    if missing and not config.model and not config.base_url.startswith("local:"):
        return _finish(job, lease, GenerationJob.Status.FAILED,
                       "no model configured: set the project's LLM model or the LLM_MODEL setting"), False
    try:
        owns_client = client is None
        client = client or make_client(config)
        try:
            more = _generate(job, client, config, project, target, lease, deadline)
        finally:
            if owns_client:
                client.close()
    except FatalGenerationError as exc:
        return _finish(job, lease, GenerationJob.Status.FAILED, str(exc)), False
    if more:
        GenerationJob.objects.filter(pk=job_id, owner=owner).update(failed=job.failed, params=job.params)
        release(GenerationJob, job_id, owner)
        job.refresh_from_db()
        return job, True
    return _finish(job, lease, GenerationJob.Status.DONE), False


def _generate(job: GenerationJob, client, config: GenerationConfig, project: Project, target: int,
              lease: Lease, deadline: float | None = None) -> bool:
    """Ask for the missing completions and store them as they arrive; True when the deadline
    stopped it with work left (the in-flight requests are stored first)."""
    params = config.recorded_params()
    cut_short = False
    work = _work(project, target)
    given_up: set[int] = set()  # prompts that failed in this run: their other missing completions wait
    last_progress = time.monotonic()
    repeats = {"asked_again": 0, "kept": 0}
    reask_temperature = max(config.temperature, REASK_MIN_TEMPERATURE)
    with ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="llm") as pool:
        # future → (prompt id, prompt text, extra asks so far)
        in_flight: dict[Future, tuple[int, Conversation, int]] = {}

        def attempt(prompt_id: int, text: Conversation, asks_again: int) -> Generated | None:
            # A queued request for a prompt that has just failed is not sent: it would most likely fail too.
            if prompt_id in given_up:
                return None
            try:
                return client.complete(text, temperature=reask_temperature if asks_again else None)
            except FatalGenerationError:
                raise
            except GenerationError:
                given_up.add(prompt_id)
                raise

        def send(prompt_id: int, text: Conversation, asks_again: int = 0) -> None:
            in_flight[pool.submit(attempt, prompt_id, text, asks_again)] = (prompt_id, text, asks_again)

        sent = 0

        def fill() -> None:
            nonlocal cut_short, sent
            while len(in_flight) < config.concurrency * 2:
                # Past the deadline, no new work; but each chunk asks for something, so that
                # chunks always make progress.
                if deadline is not None and sent and time.monotonic() > deadline:
                    cut_short = True
                    return
                item = next(work, None)
                if item is None:
                    return
                prompt_id, text = item
                if prompt_id in given_up:
                    job.failed += 1
                    continue
                send(prompt_id, text)
                sent += 1

        fill()
        try:
            while in_flight:
                # A timeout, so that the heartbeat goes on while the server is slow.
                finished, _ = wait(in_flight, timeout=1.0, return_when=FIRST_COMPLETED)
                arrived: list[Arrival] = []
                texts: dict[int, Conversation] = {}
                for future in finished:
                    prompt_id, text, asks_again = in_flight.pop(future)
                    try:
                        generated = future.result()
                    except FatalGenerationError:
                        raise
                    except GenerationError as exc:
                        job.failed += 1
                        mark_failed(prompt_id, str(exc))
                        logger.warning("generation failed for prompt %s: %s", prompt_id, exc)
                        continue
                    if generated is None:
                        job.failed += 1
                        continue
                    texts[prompt_id] = text
                    arrived.append(Arrival(prompt_id, generated, asks_again,
                                           reask_temperature if asks_again else None))
                fill()  # keep the pool busy while this thread writes
                if arrived:
                    result = save_arrived(arrived, params, target, job_id=job.pk)
                    job.done += result.saved
                    repeats["kept"] += result.repeats_kept
                    for repeat in result.ask_again:  # the same missing completion, asked once more
                        repeats["asked_again"] += 1
                        send(repeat.prompt_id, texts[repeat.prompt_id], repeat.asks_again + 1)
                if time.monotonic() - last_progress > PROGRESS_EVERY_SECONDS:
                    lease.beat(failed=job.failed)  # LeaseLost: another worker took the job over
                    last_progress = time.monotonic()
        finally:
            for future in in_flight:
                future.cancel()
            job.params["repeats"] = repeats
    # Cut short with nothing left to ask: then it is simply done.
    return cut_short and next(work, None) is not None


def _finish(job: GenerationJob, lease: Lease, status: str, error: str = "") -> GenerationJob:
    """The last word of the job's owner (and only of its owner)."""
    job.status, job.error, job.finished_at = status, error, timezone.now()
    lease.owned().update(status=status, error=error, finished_at=job.finished_at, failed=job.failed,
                         params=job.params, owner="")
    job.refresh_from_db()
    return job


def generation_status(project: Project, failed_limit: int = 50) -> dict:
    """The latest job, what is still missing, and the prompts whose generation failed (for the admin)."""
    job = GenerationJob.objects.filter(project=project).order_by("-created_at").first()
    prompts = Prompt.objects.filter(project=project)
    target = project.target_completions
    counts = prompts.aggregate(
        below_target=Count("pk", filter=Q(num_completions__lt=target)),
        not_ready=Count("pk", filter=Q(num_completions__lt=2)),
        failed=Count("pk", filter=~Q(generation_error="")),
    )
    failed = prompts.exclude(generation_error="").order_by("pk").values(
        "pk", "external_id", "text", "num_completions", "generation_error", "generation_attempts"
    )[:failed_limit]
    return {
        "enabled": project.generation_enabled,
        "target_completions": target,
        "prompts_below_target": counts["below_target"],
        "missing_completions": missing_completions(project, target),
        "prompts_not_ready": counts["not_ready"],
        "job": None if job is None else {
            "id": job.pk, "status": job.status, "total": job.total, "done": job.done, "failed": job.failed,
            "progress": (job.done + job.failed) / job.total if job.total else (1.0 if job.status == "done" else 0.0),
            "error": job.error, "started_at": job.started_at, "finished_at": job.finished_at,
            "repeats": job.params.get("repeats", {"asked_again": 0, "kept": 0}),
        },
        "failed_prompts_total": counts["failed"],
        "failed_prompts": [
            {"id": row["pk"], "external_id": row["external_id"], "text": row["text"][:200],
             "completions": row["num_completions"], "error": row["generation_error"],
             "attempts": row["generation_attempts"]}
            for row in failed
        ],
    }
