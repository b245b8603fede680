"""LabelHub's data model. Words as in PRODUCT.md: project, prompt set, prompt, completion,
assignment, ranking, export. Rules that can live in the database do (unique constraints,
foreign keys); the ranking rules themselves are plain functions in ranking.py."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now
from django.utils import timezone


def new_pseudonym_salt() -> str:
    return secrets.token_hex(16)


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    criterion = models.CharField(max_length=100, default="helpfulness")
    labelers_per_prompt = models.PositiveSmallIntegerField(default=3)
    # Adaptive overlap (annotations/overlap.py): a prompt whose k rankings agree less than
    # agreement_target takes one more labeler at a time, up to this maximum; equal to k (the
    # default, kept equal by create_project/update_project) it is off.
    max_labelers_per_prompt = models.PositiveSmallIntegerField(default=3)
    agreement_target = models.FloatField(default=0.75)
    allow_ties = models.BooleanField(default=True)

    class Feedback(models.TextChoices):
        RANKING = "ranking"  # order the completions (tiers, ties, flags)
        THUMBS = "thumbs"  # mark each completion up or down (or flag it)

    feedback = models.CharField(max_length=10, choices=Feedback.choices, default=Feedback.RANKING)
    reservation_minutes = models.PositiveIntegerField(default=30)
    # Salt for the stable pseudonyms that exports use instead of usernames.
    pseudonym_salt = models.CharField(max_length=64, default=new_pseudonym_salt, editable=False)

    # Generation: off unless the project is given settings. Blank values fall back to settings.LLM_*.
    generation_enabled = models.BooleanField(default=False)
    target_completions = models.PositiveSmallIntegerField(default=4)
    llm_base_url = models.CharField(max_length=500, blank=True)
    llm_model = models.CharField(max_length=200, blank=True)
    llm_api_key_env = models.CharField(
        max_length=100, blank=True, help_text="Name of the environment variable holding the API key."
    )
    temperature = models.FloatField(default=1.0)
    top_p = models.FloatField(default=1.0)
    max_tokens = models.PositiveIntegerField(default=512)
    system_prompt = models.TextField(blank=True)
    generation_concurrency = models.PositiveSmallIntegerField(default=16)

    # Canary completions: known-bad completions added to a share of prompts to measure labelers.
    canaries_enabled = models.BooleanField(default=False)
    canary_share = models.FloatField(default=0.1)

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def current_instructions(self) -> "InstructionVersion | None":
        return self.instruction_versions.order_by("-version").first()


class InstructionVersion(models.Model):
    """Instructions are versioned: each ranking records the version its labeler had read."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="instruction_versions")
    version = models.PositiveIntegerField()
    text = models.TextField(help_text="Markdown.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["project", "version"], name="unique_instruction_version"),
        ]

    def __str__(self) -> str:
        return f"{self.project.slug} v{self.version}"


class InstructionAcceptance(models.Model):
    """A labeler confirmed having read one version of a project's instructions."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    instruction_version = models.ForeignKey(InstructionVersion, on_delete=models.CASCADE)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "instruction_version"], name="unique_acceptance"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} read {self.instruction_version_id}"


class Membership(models.Model):
    class Role(models.TextChoices):
        LABELER = "labeler"
        RESEARCHER = "researcher"
        ADMIN = "admin"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "project", "role"], name="unique_membership_role"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} in {self.project}"


class PromptSet(models.Model):
    class Status(models.TextChoices):
        IMPORTING = "importing"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompt_sets")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    filename = models.CharField(max_length=255)
    # The uploaded file's name in storage (storage.py: local disk or object store), kept once imported.
    stored_as = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.IMPORTING)
    prompts = models.PositiveIntegerField(default=0)
    completions = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.filename} ({self.project.slug})"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    prompt_set = models.ForeignKey(PromptSet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # NULL, not "", when the file gave no id: the per-project uniqueness applies only to given ids.
    external_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # For a conversation, the last user message (what lists and searches show); `messages` then
    # holds the whole conversation ([{"role", "content"}], ending with that user message).
    text = models.TextField()
    messages = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # Denormalised counters that keep the labeling loop to a few indexed queries:
    # completions available, and rankings submitted so far.
    num_completions = models.PositiveIntegerField(default=0)
    num_rankings = models.PositiveIntegerField(default=0)
    # Reservations held (assignments in status "reserved"): kept on the row that `next` locks, so
    # that a concurrent `next` re-checks "rankings + reservations < k" against the latest value.
    num_reserved = models.PositiveIntegerField(default=0)
    # Pairwise agreement of the prompt's latest rankings (0–1), stored whenever one of them is stored
    # or revised, so that "disputed" prompts can be listed without recomputing the project; NULL
    # below two rankings. In a thumbs project: the share of labelers on the majority side per
    # completion (annotations/thumbs.py).
    agreement = models.FloatField(null=True, blank=True)
    # The shape of its latest rankings (annotations/quality_stats.py: how they order the completions,
    # canaries left out), stored with `agreement`: the quality report counts prompts per shape instead
    # of reading every ranking. NULL without rankings, or when only the general code can read them.
    quality_shape = models.TextField(null=True, blank=True)  # noqa: DJ001
    # Adaptive overlap: 0 unless the prompt takes a labeler beyond k, then the number of rankings it
    # should reach (its rankings + 1). Decided when one of its rankings is stored or revised, from
    # its own rankings (overlap.wanted_rankings), and again for the whole project when k, the
    # maximum or the target change; the claim compares it with the counters above.
    wanted_rankings = models.PositiveSmallIntegerField(default=0, db_default=0)
    generation_error = models.TextField(blank=True)
    generation_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "external_id"],
                condition=Q(external_id__isnull=False),
                name="unique_prompt_external_id",
            ),
        ]
        indexes = [
            # "next task": a project's prompts with enough completions, closest to complete first.
            models.Index(
                fields=["project", "-num_rankings", "id"],
                condition=Q(num_completions__gte=2),
                name="prompt_next_idx",
            ),
            # The quality report's "most disagreement": least agreement first.
            models.Index(
                fields=["project", "agreement", "-num_rankings", "id"],
                condition=Q(agreement__isnull=False),
                name="prompt_disagreement_idx",
            ),
            # The claim's second scan (adaptive overlap): the few prompts that want one more labeler.
            models.Index(
                fields=["project", "-num_rankings", "id"],
                condition=Q(num_rankings__lt=models.F("wanted_rankings"), num_completions__gte=2),
                name="prompt_extra_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.external_id or f"prompt {self.pk}"

    @property
    def public_id(self) -> str:
        """The id researchers see: the prompt-set file's id, else LabelHub's."""
        return self.external_id if self.external_id is not None else str(self.pk)


class CompletionQuerySet(models.QuerySet):
    def delete(self):
        from .protection import refuse_ranked  # protection.py reads the rankings, defined below

        refuse_ranked(self)
        return super().delete()


class Completion(models.Model):
    class Source(models.TextChoices):
        UPLOADED = "uploaded"
        GENERATED = "generated"
        CANARY = "canary"

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="completions")
    position = models.PositiveSmallIntegerField()
    text = models.TextField()
    source = models.CharField(max_length=20, choices=Source.choices, default=Source.UPLOADED)
    model = models.CharField(max_length=200, blank=True)
    params = models.JSONField(default=dict, blank=True)
    # For canaries: how it was built (other_prompt, truncated, shuffled); never exported.
    canary_kind = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    # A completion that rankings refer to (by id, in JSON) is not deleted on its own: protection.py.
    objects = CompletionQuerySet.as_manager()

    class Meta:
        ordering = ["prompt", "position"]
        constraints = [
            models.UniqueConstraint(fields=["prompt", "position"], name="unique_completion_position"),
            models.UniqueConstraint(fields=["prompt"], condition=Q(source="canary"), name="one_canary_per_prompt"),
        ]

    def __str__(self) -> str:
        return f"completion {self.pk} of {self.prompt_id}"

    def delete(self, *args, **kwargs):
        from .protection import refuse_ranked

        refuse_ranked([self])
        return super().delete(*args, **kwargs)

    @property
    def is_canary(self) -> bool:
        return self.source == self.Source.CANARY


class GenerationJob(models.Model):
    """One run of completion generation for a project; progress is read by the pages and the API."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="generation_jobs")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    total = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    # The lease (annotations/leases.py): which worker runs the job and when it last said it was alive.
    owner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # claims so far: the sweep gives up after JOB_MAX_ATTEMPTS

    def __str__(self) -> str:
        return f"generation {self.pk} of {self.project_id} ({self.status})"


class Assignment(models.Model):
    class Status(models.TextChoices):
        RESERVED = "reserved"
        SUBMITTED = "submitted"
        SKIPPED = "skipped"
        EXPIRED = "expired"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="assignments")
    # PROTECT: a user who labeled is deactivated, not deleted (deletion.remove_user), so no label is lost.
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RESERVED)
    # Completion ids in the order they are shown: random per assignment, against position bias.
    shown_order = models.JSONField(default=list)
    reserved_until = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "labeler"], name="unique_assignment_prompt_labeler"),
        ]
        indexes = [
            models.Index(fields=["project", "labeler", "status"], name="assignment_open_idx"),
            models.Index(fields=["prompt", "status"], name="assignment_prompt_status_idx"),
            # The expiry sweep: a project's reservations by end time.
            models.Index(
                fields=["project", "reserved_until"], condition=Q(status="reserved"), name="assignment_reserved_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"assignment {self.pk}: {self.prompt_id} to {self.labeler_id} ({self.status})"


class Ranking(models.Model):
    """One labeler's judgement of one prompt.

    `tiers` is a list of lists of completion ids, best first; a tier of more than one is a tie.
    `flagged` lists the completions judged nonsensical, confusing or irrelevant.

    In a thumbs project the same row holds the thumbs as exactly two tiers, `[ups, downs]` (either
    may be empty): the pair export, revisions and the KTO export then need no second storage, and
    "each up preferred to each down of the same labeler" is what tiers already mean."""

    assignment = models.OneToOneField(Assignment, on_delete=models.CASCADE, related_name="ranking")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="rankings")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="rankings")
    labeler = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings")
    tiers = models.JSONField()
    flagged = models.JSONField(default=list)
    shown_order = models.JSONField(default=list)
    instruction_version = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    submitted_at = models.DateTimeField(auto_now_add=True)
    # The row holds the latest revision (1 = as first submitted); earlier ones are RankingRevisions.
    # Consensus, agreement and exports read this row, so they always use the latest revision.
    # Database defaults too, so that a ranking inserted by plain SQL starts at revision 1.
    revision = models.PositiveIntegerField(default=1, db_default=1)
    revised_at = models.DateTimeField(default=timezone.now, db_default=Now())
    # Quality figures of this ranking, stored when it (or another ranking of its prompt) is stored or
    # revised, so that the quality report and --exclude-labelers-below add them up in SQL
    # (annotations/quality_store.py). All with canaries left out: its agreement with the
    # leave-one-out consensus of its prompt (everyone trusted; NULL when not comparable), whether it
    # has a tie, how many completions it flags and judges, and its canary (0 none shown, 1 missed,
    # 2 passed).
    loo_share = models.FloatField(null=True, blank=True)
    has_tie = models.BooleanField(default=False, db_default=False)
    num_flagged = models.PositiveSmallIntegerField(default=0, db_default=0)
    num_judged = models.PositiveSmallIntegerField(default=0, db_default=0)
    canary = models.PositiveSmallIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["prompt", "labeler"], name="unique_ranking_prompt_labeler"),
        ]
        indexes = [
            models.Index(fields=["project", "prompt"], name="ranking_project_prompt_idx"),
            models.Index(fields=["project", "labeler"], name="ranking_project_labeler_idx"),
            models.Index(fields=["project", "submitted_at"], name="ranking_project_time_idx"),
            # "Your recent rankings": a labeler's rankings in a project, latest revision first.
            models.Index(fields=["project", "labeler", "-revised_at"], name="ranking_recent_idx"),
            # The latest change of a project's rankings, for stored results' staleness (stored_results.py).
            models.Index(fields=["project", "revised_at"], name="ranking_project_revised_idx"),
        ]

    def __str__(self) -> str:
        return f"ranking {self.pk} of {self.prompt_id} by {self.labeler_id}"


class RankingRevision(models.Model):
    """An earlier revision of a ranking, kept when its labeler revises it: the Ranking row then
    holds revision n+1 and this row what revision n was."""

    ranking = models.ForeignKey(Ranking, on_delete=models.CASCADE, related_name="earlier_revisions")
    revision = models.PositiveIntegerField()
    tiers = models.JSONField()
    flagged = models.JSONField(default=list)
    instruction_version = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    revised_at = models.DateTimeField(help_text="When this revision was made.")

    class Meta:
        ordering = ["ranking", "revision"]
        constraints = [
            models.UniqueConstraint(fields=["ranking", "revision"], name="unique_ranking_revision"),
        ]

    def __str__(self) -> str:
        return f"ranking {self.ranking_id} revision {self.revision}"


class Invite(models.Model):
    """A single-use link that lets a newcomer join a project with a role. Only the SHA-256 of the
    token is stored: the link itself is shown once, to the admin who created it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=20, choices=Membership.Role.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return f"invite to {self.project_id} as {self.role}"


class Export(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    progress = models.FloatField(default=0.0)
    counts = models.JSONField(default=dict, blank=True)
    # Names in storage (storage.py): {"bundle": "exports/12/<attempt>/labelhub-<slug>-export-12.zip"}
    files = models.JSONField(default=dict, blank=True)
    sha256 = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The bundle's size, recorded once the job succeeds (labelhub/metrics.py): the metrics read it here.
    bundle_bytes = models.PositiveBigIntegerField(null=True, blank=True)

    # The lease (annotations/leases.py): which worker runs the job and when it last said it was alive.
    owner = models.CharField(max_length=200, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)  # claims so far: the sweep gives up after JOB_MAX_ATTEMPTS

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.project.slug} ({self.status})"


class StoredResult(models.Model):
    """A result computed by a Celery task and stored (annotations/stored_results.py), so that a page
    or the API answers at once on a large project. `rankings_revised_at` stamps the project's
    rankings it was computed from: a ranking stored or revised later makes it stale."""

    result = models.JSONField(null=True, blank=True)  # null until first computed
    computed_at = models.DateTimeField(null=True, blank=True)
    rankings_count = models.PositiveIntegerField(default=0)
    rankings_revised_at = models.DateTimeField(null=True, blank=True)  # latest Ranking.revised_at then
    # Set (by a conditional UPDATE) when a refresh is queued, cleared when it is stored: at most one
    # refresh queued per result; an old one (worker lost) may be claimed again.
    refreshing_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class ModelLeaderboard(StoredResult):
    """A project's model leaderboard for one kind of pairs (annotations/stored_leaderboard.py):
    fitting 100,000 prompts takes tens of seconds, too long for a request."""

    class Pairs(models.TextChoices):
        CONSENSUS = "consensus"
        LABELER = "labeler"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="leaderboards")
    pairs = models.CharField(max_length=20, choices=Pairs.choices)
    result = models.JSONField(null=True, blank=True)  # Leaderboard.as_dict(); null until first computed

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "pairs"], name="one_leaderboard_per_pairs")]

    def __str__(self) -> str:
        return f"{self.pairs} leaderboard of project {self.project_id}"


class StoredQualityReport(StoredResult):
    """A large project's quality report (annotations/stored_quality.py): at a million prompts it
    takes a worker tens of seconds, and the quality page and the agreement API serve it stored."""

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="stored_quality_report")

    def __str__(self) -> str:
        return f"quality report of project {self.project_id}"
