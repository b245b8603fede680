"""Creating a project (/projects/new/, site admins) and changing its settings
(/projects/{slug}/settings/, the project's admins). The forms parse the values; the rules are
project_rules.settings_errors, the same the API applies."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from ..models import Project
from ..project_rules import LABELS, LIMITS, MAX_LENGTHS, settings_errors, slug_errors
from ..projects import create_project, settings_of, update_project
from .project_admin import administered_project


def _number(field: str, integer: bool = True, step: str = "any", **options) -> forms.Field:
    """A number input labelled and bounded (in the browser too) as project_rules says."""
    low, high = LIMITS[field]
    attrs = {"min": low, "max": high, "step": "1" if integer else step}
    widget = forms.NumberInput(attrs=attrs)
    kind = forms.IntegerField if integer else forms.FloatField
    return kind(label=LABELS[field], widget=widget, **options)


def _text(field: str, required: bool = False, **options) -> forms.CharField:
    return forms.CharField(label=LABELS[field], required=required, max_length=MAX_LENGTHS.get(field), **options)


class RuledForm(forms.Form):
    """A form whose cleaned values go through project_rules; errors land on their fields."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")  # labels read exactly "Name", "Slug", ... (found by them)
        super().__init__(*args, **kwargs)

    def current(self) -> dict:
        return {}

    def site_admin(self) -> bool:
        return False

    def apply_rules(self, changed: set[str]) -> None:
        values = {**self.current(), **self.cleaned_data}
        errors = settings_errors(values, changed & set(self.cleaned_data), site_admin=self.site_admin(),
                                 default_model=settings.LLM_MODEL)
        for field, field_errors in errors.items():
            for message in field_errors:
                self.add_error(field if field in self.fields else None, message)


class NewProjectForm(RuledForm):
    name = _text("name", required=True)
    slug = forms.CharField(label=LABELS["slug"], max_length=MAX_LENGTHS["slug"],
                           help_text="Part of the project's URLs: letters, digits, hyphens and underscores.")
    criterion = _text("criterion", required=True, initial="helpfulness",
                      help_text="What labelers rank by: helpfulness, harmlessness, …")
    labelers_per_prompt = _number("labelers_per_prompt", initial=3,
                                  help_text="How many labelers rank each prompt (k).")
    allow_ties = forms.BooleanField(label=LABELS["allow_ties"], required=False, initial=True)
    feedback = forms.ChoiceField(label="Feedback", choices=[("ranking", "Rank the completions"),
                                                            ("thumbs", "Thumbs up or down on each completion")],
                                 initial="ranking", widget=forms.RadioSelect, required=False,
                                 help_text="Chosen once, when the project is created.")
    instructions = forms.CharField(label=LABELS["instructions"], required=False, strip=False,
                                   widget=forms.Textarea(attrs={"rows": 8}),
                                   help_text="Markdown. Labelers read and confirm it before their first task; "
                                             "it becomes version 1.")

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def site_admin(self) -> bool:
        return bool(self.user and self.user.is_staff)

    def clean_feedback(self) -> str:
        return self.cleaned_data.get("feedback") or "ranking"  # a form without the field: the default

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].strip()
        for message in slug_errors(slug, taken=Project.objects.filter(slug=slug).exists()):
            raise forms.ValidationError(message)
        return slug

    def clean(self) -> dict:
        cleaned = super().clean()
        self.apply_rules({"name", "criterion", "labelers_per_prompt", "allow_ties"})
        return cleaned


class ProjectSettingsForm(RuledForm):
    name = _text("name", required=True)
    criterion = _text("criterion", required=True)
    labelers_per_prompt = _number("labelers_per_prompt")
    max_labelers_per_prompt = _number(
        "max_labelers_per_prompt",
        help_text="Adaptive overlap: a prompt whose labelers disagree (below the agreement target) after k rankings "
                  "gets one more labeler at a time, up to this. Equal to labelers per prompt: off.")
    agreement_target = _number(
        "agreement_target", integer=False, step="0.05",
        help_text="Pairwise agreement (0–1) at which a prompt needs no more labelers.")
    allow_ties = forms.BooleanField(label=LABELS["allow_ties"], required=False)
    reservation_minutes = _number(
        "reservation_minutes", help_text="How long a labeler holds a prompt before it goes to someone else.")
    generation_enabled = forms.BooleanField(label=LABELS["generation_enabled"], required=False,
                                            help_text="Ask an OpenAI-compatible server for the missing completions.")
    target_completions = _number("target_completions")
    llm_base_url = _text("llm_base_url", help_text=f"Blank: the server's default ({settings.LLM_BASE_URL}).")
    llm_model = _text("llm_model", help_text="Blank: the server's default"
                      + (f" ({settings.LLM_MODEL})." if settings.LLM_MODEL else " (none is configured)."))
    llm_api_key_env = _text(
        "llm_api_key_env", help_text="The NAME of the server's environment variable that holds the key, e.g. "
        f"OPENAI_API_KEY; never the key itself. Blank: {settings.LLM_API_KEY_ENV}.")
    temperature = _number("temperature", integer=False, step="0.05")
    top_p = _number("top_p", integer=False, step="0.05")
    max_tokens = _number("max_tokens")
    system_prompt = forms.CharField(label=LABELS["system_prompt"], required=False, strip=False,
                                    widget=forms.Textarea(attrs={"rows": 4}))
    generation_concurrency = _number("generation_concurrency", help_text="Requests sent to the server at once.")

    GENERATION = ("generation_enabled", "target_completions", "llm_base_url", "llm_model", "llm_api_key_env",
                  "temperature", "top_p", "max_tokens", "system_prompt", "generation_concurrency")

    def __init__(self, *args, project: Project, user, **kwargs):
        super().__init__(*args, initial=settings_of(project), **kwargs)
        self.project, self.user = project, user

    def current(self) -> dict:
        return settings_of(self.project)

    def site_admin(self) -> bool:
        return bool(self.user.is_staff)

    def clean(self) -> dict:
        cleaned = super().clean()
        self.apply_rules(set(self.changed_data))
        return cleaned

    def changes(self) -> dict:
        return {field: self.cleaned_data[field] for field in self.changed_data}

    def general_fields(self):
        return [self[name] for name in self.fields if name not in self.GENERATION]

    def generation_fields(self):
        return [self[name] for name in self.GENERATION]


@login_required
def new_project(request: HttpRequest) -> HttpResponse:
    if not request.user.is_staff:
        raise PermissionDenied("Only site admins may create projects.")
    form = NewProjectForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        project = create_project(created_by=request.user, creator_is_admin=True, **form.cleaned_data)
        messages.success(request, f"Project {project.name} created. Next: add your team and upload prompts.")
        return redirect("project-admin", slug=project.slug)
    return render(request, "annotations/project_new.html", {"form": form}, status=400 if form.errors else 200)


@login_required
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    project = administered_project(request, slug)
    form = ProjectSettingsForm(request.POST or None, project=project, user=request.user)
    if request.method == "POST" and form.is_valid():
        changes = form.changes()
        update_project(project, changes)
        if changes:
            messages.success(request, f"Settings saved ({', '.join(LABELS[f].lower() for f in changes)}).")
        else:
            messages.info(request, "Nothing changed.")
        return redirect("project-settings", slug=project.slug)
    return render(request, "annotations/project_settings.html", {"project": project, "form": form},
                  status=400 if form.errors else 200)
