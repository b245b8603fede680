from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from .deletion import has_labeled, remove_user
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
from .protection import deletion_refused


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


class CompletionFormSet(forms.BaseInlineFormSet):
    """Refuses, as a form error, to delete a completion that rankings refer to (protection.py)."""

    def clean(self) -> None:
        super().clean()
        for form in self.deleted_forms:
            if form.instance.pk and (reason := deletion_refused(form.instance)):
                raise forms.ValidationError(reason)


class CompletionInline(admin.StackedInline):
    model = Completion
    formset = CompletionFormSet
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

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a ranking is a label someone was paid for; revise it, or deactivate its labeler


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "requested_by", "status", "progress", "created_at", "finished_at"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "requested_by"]


@admin.register(GenerationJob)
class GenerationJobAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "done", "total", "failed", "created_at"]
    list_filter = ["status", "project"]


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class LabelHubUserAdmin(UserAdmin):
    """Users who labeled cannot be deleted (their rankings and assignments PROTECT them: the
    delete page lists them); this action deactivates them instead, and deletes the others."""

    actions = ["deactivate_or_delete"]

    @admin.action(description="Remove access (deactivate users with labels, delete the others)")
    def deactivate_or_delete(self, request, queryset) -> None:
        outcomes = {"deactivated": [], "deleted": []}
        for user in queryset:
            outcomes[remove_user(user)].append(user.username)
        if outcomes["deactivated"]:
            self.message_user(request, "Deactivated (they labeled; their rankings stay): "
                              + ", ".join(outcomes["deactivated"]), messages.SUCCESS)
        if outcomes["deleted"]:
            self.message_user(request, "Deleted: " + ", ".join(outcomes["deleted"]), messages.SUCCESS)

    def delete_view(self, request, object_id, extra_context=None):
        user = self.get_object(request, object_id)
        if user is not None and has_labeled(user):
            self.message_user(request, f"{user.username} labeled: their rankings and assignments keep them. "
                              "Deactivate them instead (select them in the list, action “Remove access”).",
                              messages.WARNING)
        return super().delete_view(request, object_id, extra_context)
