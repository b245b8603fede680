import json
from collections.abc import Mapping
from datetime import datetime

from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.utils import html

from ..models import Project


class ProjectIn(serializers.Serializer):
    slug = serializers.SlugField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    labelers_per_prompt = serializers.IntegerField(min_value=1, max_value=50, default=3)
    allow_ties = serializers.BooleanField(default=True)
    instructions = serializers.CharField(required=False, allow_blank=True, default="")
    criterion = serializers.CharField(max_length=100, required=False, default="helpfulness")

    def validate_slug(self, value: str) -> str:
        if Project.objects.filter(slug=value).exists():
            raise serializers.ValidationError(f"a project with slug {value!r} already exists")
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
            "slug", "name", "criterion", "labelers_per_prompt", "allow_ties", "generation_enabled",
            "target_completions", "prompts", "completions", "rankings", "prompts_complete",
            "instructions_version", "created_at",
        ]

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
    """A ranking: every shown completion exactly once across `tiers` and `flagged`."""

    default_error_messages = {"invalid": 'the body must be a JSON object with "tiers"'}

    tiers = Tiers(help_text="Best first; each tier is a list of completion ids, a tier of several is a tie.")
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


class OwnRankingOut(serializers.Serializer):
    """A labeler's submitted ranking, as the labeling page reopens it."""

    assignment = serializers.IntegerField()
    project = serializers.SlugField()
    prompt = TextRef()
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
