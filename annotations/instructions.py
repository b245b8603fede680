"""Labeling instructions: rendered from Markdown safely, and the gate that makes a labeler read
each new version before ranking.

Rendering: markdown-it-py (CommonMark) with raw HTML turned off, so an admin's `<b>` shows as the
four characters, as everywhere else in LabelHub; then nh3 (Rust's ammonia) as a second line of
defence against anything a Markdown construct could still smuggle in (e.g. `javascript:` links).
Images keep only a same-site `src` (a path): a remote image would let whoever hosts it log every
labeler's address and the time they read the instructions."""

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

import nh3
from django.db.models import Count, Exists, OuterRef
from markdown_it import MarkdownIt

from .models import InstructionAcceptance, InstructionVersion, Project, Ranking
from .projects import publish_instructions
from .textdiff import DiffLine, diff_lines

# Instructions are read in full before every first task: a bound keeps the page (and the preview) fast.
MAX_INSTRUCTIONS_CHARS = 50_000

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")

ALLOWED_TAGS = {
    "a", "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code", "pre",
    "blockquote", "table", "thead", "tbody", "tr", "th", "td", "del", "img",
}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}, "th": {"style"},
                      "td": {"style"}}


# A path on this site: "/static/x.png" or "x.png", never "//host/x" nor "/\\host/x" (which browsers
# read as another host), nor anything with a scheme ("https:", "data:").
_SAME_SITE_PATH = re.compile(r"(?:/(?![/\\])|(?![/\\]))[^\s\\:]*")


def _keep_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not _SAME_SITE_PATH.fullmatch(value):
        return None
    return value


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
        attribute_filter=_keep_attribute,
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


class InstructionsRejected(ValueError):
    """A new version that cannot be published; the message says why, for the `text` field."""


def publish(project: Project, text: str) -> InstructionVersion:
    """Publish `text` as the project's next version; labelers meet the gate again on their next
    task. Empty, over-long or unchanged text is refused (nothing would be gained by a new number)."""
    if not text.strip():
        raise InstructionsRejected("The instructions cannot be empty: write the new version before publishing.")
    if len(text) > MAX_INSTRUCTIONS_CHARS:
        raise InstructionsRejected(
            f"The instructions are {len(text):,} characters long; the limit is {MAX_INSTRUCTIONS_CHARS:,}."
        )
    version, created = publish_instructions(project, text)
    if not created:
        raise InstructionsRejected(
            f"This text is the same as version {version.version}, the current one: there is nothing new to publish."
        )
    return version


@dataclass(frozen=True)
class VersionRow:
    version: int
    text: str
    created_at: datetime
    rankings: int
    diff: list[DiffLine]  # against the previous version (all lines added for version 1)


def version_history(project: Project) -> list[VersionRow]:
    """Every version, newest first, with the number of rankings made under it (the latest
    revision of each ranking) and its diff against the previous version. Two queries."""
    versions = list(InstructionVersion.objects.filter(project=project).order_by("-version"))
    counts = dict(
        Ranking.objects.filter(project=project, instruction_version__isnull=False)
        .order_by()
        .values("instruction_version")
        .annotate(n=Count("pk"))
        .values_list("instruction_version", "n")
    )
    rows = []
    for i, version in enumerate(versions):
        previous = versions[i + 1].text if i + 1 < len(versions) else ""
        rows.append(VersionRow(version.version, version.text, version.created_at, counts.get(version.version, 0),
                               diff_lines(previous, version.text)))
    return rows
