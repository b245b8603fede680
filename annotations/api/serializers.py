from rest_framework import serializers

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
