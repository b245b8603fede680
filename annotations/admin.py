from django.contrib import admin

from .models import (
    Assignment,
    Completion,
    Export,
    GenerationJob,
    InstructionVersion,
    Membership,
    Project,
    Prompt,
    PromptSet,
    Ranking,
)


class InstructionVersionInline(admin.StackedInline):
    """Published versions, read-only: each ranking records the version its labeler read, so a
    version is never edited or deleted. New versions are published on the project's instructions
    page (or `POST /api/projects/{slug}/instructions/`), which numbers them. (Adding one here used
    to fail with an IntegrityError: the read-only `version` field left it empty.)"""

    model = InstructionVersion
    extra = 0
    fields = ["version", "text", "created_at"]
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "instruction versions (read-only; publish new ones on the project's Instructions page)"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "slug", "name", "criterion", "labelers_per_prompt", "allow_ties", "generation_enabled", "created_at",
    ]
    search_fields = ["slug", "name"]
    list_filter = ["allow_ties", "generation_enabled", "canaries_enabled"]
    inlines = [InstructionVersionInline, MembershipInline]


class CompletionInline(admin.StackedInline):
    model = Completion
    extra = 0
    fields = ["position", "text", "source", "model", "params", "canary_kind"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = ["id", "external_id", "project", "short_text", "num_completions", "num_rankings"]
    list_filter = ["project"]
    search_fields = ["external_id", "text"]
    list_select_related = ["project"]
    raw_id_fields = ["prompt_set"]
    inlines = [CompletionInline]

    @admin.display(description="text")
    def short_text(self, prompt: Prompt) -> str:
        return prompt.text[:80]


@admin.register(PromptSet)
class PromptSetAdmin(admin.ModelAdmin):
    list_display = ["id", "filename", "project", "status", "prompts", "completions", "created_at"]
    list_filter = ["status", "project"]
    search_fields = ["filename"]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "project__slug"]
    list_select_related = ["user", "project"]


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "labeler", "status", "reserved_until"]
    list_filter = ["status", "project"]
    search_fields = ["labeler__username", "prompt__external_id"]
    list_select_related = ["project", "prompt", "labeler"]
    raw_id_fields = ["prompt"]


@admin.register(Ranking)
class RankingAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "prompt", "labeler", "tiers", "flagged", "duration_ms", "submitted_at"]
    list_filter = ["project", "labeler"]
    search_fields = ["labeler__username", "prompt__external_id"]
    list_select_related = ["project", "prompt", "labeler"]
    raw_id_fields = ["assignment", "prompt"]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "requested_by", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "requested_by"]


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "done", "total", "failed", "created_at"]
    list_filter = ["status", "project"]
