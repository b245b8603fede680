"""Labeling instructions: rendered from Markdown safely, and the gate that makes a labeler read
each new version before ranking.

Rendering: markdown-it-py (CommonMark) with raw HTML turned off, so an admin's `<b>` shows as the
four characters, as everywhere else in LabelHub; then nh3 (Rust's ammonia) as a second line of
defence against anything a Markdown construct could still smuggle in (e.g. `javascript:` links)."""

from functools import lru_cache

import nh3
from django.db.models import Exists, OuterRef
from markdown_it import MarkdownIt

from .models import InstructionAcceptance, InstructionVersion, Project

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "del", "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}, "th": {"style"},
                      "td": {"style"}}


@lru_cache(maxsize=64)
def render_markdown(text: str) -> str:
    """Markdown → sanitized HTML, safe to insert into a page as is."""
    html = _markdown.render(text)
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        filter_style_properties={"text-align"},
    )


def current_with_acceptance(user, project: Project) -> InstructionVersion | None:
    """The project's current instructions (None if it has none), annotated with `accepted`:
    whether `user` has confirmed reading this version. One query."""
    return (
        InstructionVersion.objects.filter(project=project)
        .annotate(accepted=Exists(InstructionAcceptance.objects.filter(user=user, instruction_version=OuterRef("pk"))))
        .order_by("-version")
        .first()
    )


def accept(user, project: Project, version: int) -> InstructionAcceptance:
    """Record that `user` read `version` of the project's instructions; repeating does no harm."""
    instruction_version = InstructionVersion.objects.get(project=project, version=version)
    acceptance, _ = InstructionAcceptance.objects.get_or_create(user=user, instruction_version=instruction_version)
    return acceptance
