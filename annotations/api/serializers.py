import json
from collections.abc import Mapping
from datetime import datetime

from django.conf import settings
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from ..models import Project
from ..project_rules import EXCLUSIVE_LOW, LIMITS, SETTINGS_FIELDS, cross_field_errors, field_error, slug_errors
from ..projects import settings_of


def _number(kind, field: str, what: str):
    low, high = LIMITS[field]
    bound = f"above {low:g}" if field in EXCLUSIVE_LOW else f"{low:g}"
    return kind(required=False, help_text=f"{what} ({bound} to {high:g}).")


class ProjectSettingsIn(serializers.Serializer):
    """Any of a project's settings: only the fields sent are changed. Every field breaking its
    rule is reported at once, as {"field": ["message naming the field"]}."""

    name = serializers.CharField(required=False, allow_blank=True, help_text="Shown to the team.")
    criterion = serializers.CharField(required=False, allow_blank=True,
                                      help_text="What labelers rank by, e.g. helpfulness.")
    labelers_per_prompt = _number(serializers.IntegerField, "labelers_per_prompt",
                                  "How many labelers rank each prompt (k)")
    max_labelers_per_prompt = _number(
        serializers.IntegerField, "max_labelers_per_prompt",
        "Adaptive overlap: most labelers a disputed prompt may get; at least k, equal to k (the default) is off")
    agreement_target = _number(
        serializers.FloatField, "agreement_target",
        "Adaptive overlap: a prompt whose pairwise agreement is below this after k rankings takes one more labeler")
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
    # Chosen once, at creation: a thumbs judgement is stored as tiers [ups, downs], which a later
    # switch to ranking would misread.
    feedback = serializers.ChoiceField(Project.Feedback.choices, default=Project.Feedback.RANKING,
                                       help_text="ranking: order the completions; thumbs: up or down for each one.")
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
            "slug", "feedback", *SETTINGS_FIELDS, "prompts", "completions", "rankings", "prompts_complete",
            "instructions_version", "created_at",
        ]
        read_only_fields = ["feedback"]

    def get_instructions_version(self, project: Project) -> int | None:
        return getattr(project, "instructions_version", None)


MAX_STORED_INTEGER = 2_147_483_647  # the database's integer columns


class CompletionId(serializers.IntegerField):
    """A completion id: a JSON integer as it is (not "5" or 5.0, which a ranking never needs)."""

    default_error_messages = {"invalid": "completion ids must be integers, got {value!r}"}

    def to_internal_value(self, data):
        if not isinstance(data, int) or isinstance(data, bool):
            self.fail("invalid", value=data)
        return data


class NamedErrors:
    """Error messages that name their field: "{field}" becomes the field's name once bound."""

    def bind(self, field_name, parent):
        super().bind(field_name, parent)
        self.error_messages = {
            key: message.replace("{field}", field_name) if isinstance(message, str) else message
            for key, message in self.error_messages.items()
        }


class IdList(NamedErrors, serializers.ListField):
    """A list of completion ids, which a form post may also send as JSON text."""

    def __init__(self, **kwargs):
        kwargs.setdefault("child", CompletionId())
        super().__init__(**kwargs)
        self.error_messages["json"] = '"{field}" must be JSON, got {value!r}'
        self.error_messages["not_a_list"] = '"{field}" must be a list of completion ids'
        self.error_messages["null"] = self.error_messages["not_a_list"]

    def get_value(self, dictionary):
        if html.is_html_input(dictionary):  # one form field holding JSON text, not repeated fields
            return dictionary.get(self.field_name, empty)
        return super().get_value(dictionary)

    def to_internal_value(self, data):
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                self.fail("json", value=data[:100])
        return super().to_internal_value(data)


class Tiers(IdList):
    """Tiers best first, each a list of completion ids (a tier of more than one is a tie)."""

    def __init__(self, **kwargs):
        super().__init__(child=IdList(), **kwargs)
        self.child.error_messages["not_a_list"] = "each tier must be a list of completion ids"
        self.error_messages["not_a_list"] = '"{field}" must be a list of lists of completion ids'
        self.error_messages["null"] = self.error_messages["not_a_list"]
        self.error_messages["required"] = '"{field}" is required'


def _whole_number(name: str, least: int, **kwargs) -> serializers.IntegerField:
    message = f'"{name}" must be a whole number from {least} to {MAX_STORED_INTEGER}'
    return serializers.IntegerField(
        min_value=least, max_value=MAX_STORED_INTEGER, required=False, allow_null=True,
        error_messages={"invalid": message, "min_value": message, "max_value": message, "max_string_length": message},
        **kwargs,
    )


class RankingIn(serializers.Serializer):
    """A ranking: every shown completion exactly once across `tiers` (or, in a thumbs project,
    `thumbs`) and `flagged`."""

    default_error_messages = {"invalid": 'the body must be a JSON object with "tiers"'}

    tiers = Tiers(required=False, help_text="Best first; each tier is a list of completion ids, a tier of several "
                                            "is a tie. Required in ranking projects, refused in thumbs projects.")
    thumbs = serializers.DictField(
        child=serializers.CharField(), required=False,
        help_text='Thumbs projects only: completion id → "up" or "down", for every completion not flagged.',
    )
    flagged = IdList(default=list, help_text="Completions judged nonsensical, confusing or irrelevant.")
    duration_ms = _whole_number("duration_ms", 0, help_text="Time spent on the task, in milliseconds.")
    # The version the labeler was shown (from tasks/next); defaults to the current one.
    instructions_version = _whole_number("instructions_version", 1, source="instruction_version")

    def to_internal_value(self, data):
        if isinstance(data, Mapping):  # "" for an optional number, as a form sends it, means none
            data = {key: (None if value == "" and key in ("duration_ms", "instructions_version") else value)
                    for key, value in data.items()}
        return super().to_internal_value(data)


class RankingOut(serializers.Serializer):
    id = serializers.IntegerField()
    assignment = serializers.IntegerField(source="assignment_id")
    tiers = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    flagged = serializers.ListField(child=serializers.IntegerField())
    instructions_version = serializers.IntegerField(source="instruction_version", allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    submitted_at = serializers.DateTimeField()
    revision = serializers.IntegerField(help_text="1 as first submitted; +1 for each revision.")
    revised_at = serializers.DateTimeField(help_text="When the latest revision was made.")


class TextRef(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()


class MessageOut(serializers.Serializer):
    role = serializers.CharField(help_text="system, user or assistant")
    content = serializers.CharField()


class PromptRef(TextRef):
    """A prompt as the labeling loop gives it: for a conversation `text` is its last user message
    and `messages` the whole conversation; a plain prompt has `messages` null."""

    messages = MessageOut(many=True, allow_null=True, default=None)


class OwnRankingOut(serializers.Serializer):
    """A labeler's submitted ranking, as the labeling page reopens it."""

    assignment = serializers.IntegerField()
    project = serializers.SlugField()
    prompt = PromptRef()
    completions = TextRef(many=True, help_text="In the order they were shown.")
    tiers = serializers.ListField(child=serializers.ListField(child=serializers.IntegerField()))
    flagged = serializers.ListField(child=serializers.IntegerField())
    revision = serializers.IntegerField()
    duration_ms = serializers.IntegerField(allow_null=True)
    instructions_version = serializers.IntegerField(allow_null=True)
    submitted = serializers.DateTimeField()
    revised = serializers.DateTimeField(allow_null=True, help_text="When it was last revised; null if never.")


class RecentRankingOut(serializers.Serializer):
    assignment = serializers.IntegerField(source="assignment_id")
    prompt = TextRef()
    submitted = serializers.DateTimeField(source="submitted_at")
    revised = serializers.SerializerMethodField(help_text="When it was last revised; null if never.")
    revision = serializers.IntegerField()

    def get_revised(self, ranking) -> datetime | None:
        return serializers.DateTimeField().to_representation(ranking.revised_at) if ranking.revision > 1 else None
