from django.conf import settings
from rest_framework import serializers

from ..models import Project
from ..project_rules import SETTINGS_FIELDS, settings_errors, slug_errors
from ..projects import settings_of


class ProjectSettingsIn(serializers.Serializer):
    """PATCH /api/projects/{slug}/: any of the settings; the rules are project_rules.settings_errors,
    the same ones the settings page applies. The project being changed is the serializer's instance."""

    name = serializers.CharField(required=False, allow_blank=True)
    criterion = serializers.CharField(required=False, allow_blank=True)
    labelers_per_prompt = serializers.IntegerField(required=False)
    allow_ties = serializers.BooleanField(required=False)
    reservation_minutes = serializers.IntegerField(required=False)
    generation_enabled = serializers.BooleanField(required=False)
    target_completions = serializers.IntegerField(required=False)
    llm_base_url = serializers.CharField(required=False, allow_blank=True)
    llm_model = serializers.CharField(required=False, allow_blank=True)
    llm_api_key_env = serializers.CharField(required=False, allow_blank=True)
    temperature = serializers.FloatField(required=False)
    top_p = serializers.FloatField(required=False)
    max_tokens = serializers.IntegerField(required=False)
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    generation_concurrency = serializers.IntegerField(required=False)

    def current_settings(self) -> dict:
        return settings_of(self.instance) if self.instance is not None else {}

    def validate(self, attrs: dict) -> dict:
        unknown = sorted(set(getattr(self, "initial_data", {})) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({field: ["Not a project setting that can be set here."]
                                               for field in unknown})
        user = getattr(self.context.get("request"), "user", None)
        values = {**self.current_settings(), **attrs}
        errors = settings_errors(values, changed=attrs.keys(), site_admin=bool(user and user.is_staff),
                                 default_model=settings.LLM_MODEL)
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class ProjectIn(ProjectSettingsIn):
    """POST /api/projects/: a slug, optional instructions, and any of the settings."""

    slug = serializers.CharField()
    instructions = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)

    def current_settings(self) -> dict:
        # A new project starts from the model's defaults.
        return {field: Project._meta.get_field(field).get_default() for field in SETTINGS_FIELDS}

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("name", "x").strip():
            del attrs["name"]  # a blank name on creation means "use the slug"
        return super().validate(attrs)

    def validate_slug(self, value: str) -> str:
        errors = slug_errors(value, taken=Project.objects.filter(slug=value).exists())
        if errors:
            raise serializers.ValidationError(errors)
        return value


class ProjectOut(serializers.ModelSerializer):
    prompts = serializers.IntegerField(source="n_prompts", read_only=True)
    completions = serializers.IntegerField(source="n_completions", read_only=True)
    rankings = serializers.IntegerField(source="n_rankings", read_only=True)
    prompts_complete = serializers.IntegerField(source="n_prompts_complete", read_only=True)
    instructions_version = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = [
            "slug", *SETTINGS_FIELDS, "prompts", "completions", "rankings", "prompts_complete",
            "instructions_version", "created_at",
        ]

    def get_instructions_version(self, project: Project) -> int | None:
        return getattr(project, "instructions_version", None)


class RankingIn(serializers.Serializer):
    tiers = serializers.JSONField()
    flagged = serializers.JSONField(default=list)
    duration_ms = serializers.IntegerField(min_value=0, required=False, allow_null=True)
    # The version the labeler was shown (from tasks/next); defaults to the current one.
    instructions_version = serializers.IntegerField(
        min_value=1, required=False, allow_null=True, source="instruction_version"
    )


class RankingOut(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    tiers = serializers.JSONField()
    flagged = serializers.JSONField()
    instructions_version = serializers.IntegerField(source="instruction_version", allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    submitted_at = serializers.DateTimeField()
