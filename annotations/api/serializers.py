from django.conf import settings
from rest_framework import serializers

from ..models import Project
from ..project_rules import LIMITS, SETTINGS_FIELDS, cross_field_errors, field_error, slug_errors
from ..projects import settings_of


def _number(kind, field: str, what: str):
    low, high = LIMITS[field]
    bound = f"above {low:g}" if field == "top_p" else f"{low:g}"
    return kind(required=False, help_text=f"{what} ({bound} to {high:g}).")


class ProjectSettingsIn(serializers.Serializer):
    """Any of a project's settings: only the fields sent are changed. Every field breaking its
    rule is reported at once, as {"field": ["message naming the field"]}."""

    name = serializers.CharField(required=False, allow_blank=True, help_text="Shown to the team.")
    criterion = serializers.CharField(required=False, allow_blank=True,
                                      help_text="What labelers rank by, e.g. helpfulness.")
    labelers_per_prompt = _number(serializers.IntegerField, "labelers_per_prompt",
                                  "How many labelers rank each prompt (k)")
    allow_ties = serializers.BooleanField(required=False, help_text="Whether a ranking may put completions level.")
    reservation_minutes = _number(serializers.IntegerField, "reservation_minutes",
                                  "How long a labeler holds a prompt")
    generation_enabled = serializers.BooleanField(
        required=False, help_text="Generate missing completions; needs a model here or on the server.")
    target_completions = _number(serializers.IntegerField, "target_completions", "Completions wanted per prompt")
    llm_base_url = serializers.CharField(
        required=False, allow_blank=True,
        help_text="OpenAI-compatible server, http(s)://…/v1; blank: the server's default.")
    llm_model = serializers.CharField(required=False, allow_blank=True, help_text="Blank: the server's default.")
    llm_api_key_env = serializers.CharField(
        required=False, allow_blank=True,
        help_text="The NAME of the environment variable holding the key (never the key); project admins "
                  "who are not site admins may only name variables ending in _API_KEY or _API_TOKEN.")
    temperature = _number(serializers.FloatField, "temperature", "Sampling temperature")
    top_p = _number(serializers.FloatField, "top_p", "Nucleus sampling")
    max_tokens = _number(serializers.IntegerField, "max_tokens", "Longest completion, in tokens")
    system_prompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    generation_concurrency = _number(serializers.IntegerField, "generation_concurrency",
                                     "Requests sent to the LLM server at once")

    def current_settings(self) -> dict:
        return settings_of(self.instance) if self.instance is not None else {}

    def site_admin(self) -> bool:
        user = getattr(self.context.get("request"), "user", None)
        return bool(user and user.is_staff)

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields)) if hasattr(data, "keys") else []
        if unknown:
            raise serializers.ValidationError({field: ["Not a project setting that can be set here."]
                                               for field in unknown})
        return super().to_internal_value(data)

    def validate(self, attrs: dict) -> dict:
        values = {**self.current_settings(), **attrs}
        errors = cross_field_errors(values, changed=attrs.keys(), default_model=settings.LLM_MODEL)
        if errors:
            raise serializers.ValidationError({field: [message] for field, message in errors.items()})
        return attrs


def _field_rule(field: str):
    """DRF's validate_<field>: the field's own rule from project_rules, so that every bad field of
    a body is reported at once."""
    def validate(self, value):
        message = field_error(field, value, site_admin=self.site_admin())
        if message:
            raise serializers.ValidationError(message)
        return value
    return validate


for _field in SETTINGS_FIELDS:
    setattr(ProjectSettingsIn, f"validate_{_field}", _field_rule(_field))


class ProjectIn(ProjectSettingsIn):
    """A new project: a slug, optional instructions (version 1), and any of the settings (the
    others take their defaults)."""

    slug = serializers.CharField(help_text="Letters, digits, hyphens and underscores; unique; part of the URLs.")
    instructions = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False,
                                         help_text="Markdown, shown to labelers before their first task.")

    def current_settings(self) -> dict:
        # A new project starts from the model's defaults.
        return {field: Project._meta.get_field(field).get_default() for field in SETTINGS_FIELDS}

    def validate_name(self, value: str) -> str:
        # A blank name on creation means "use the slug" (create_project does).
        return value if not value.strip() else ProjectSettingsIn.validate_name(self, value)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("name", "x").strip():
            del attrs["name"]
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
