"""The rules a project's settings obey: one validation for the settings page, the new-project page
and the API (PATCH and POST /api/projects/). Pure functions over plain values, no Django import:
the doors parse types (a number, a boolean) and call `settings_errors` for everything else, so a
value refused by one door is refused by the others with the same message."""

import re
from collections.abc import Collection, Mapping

# Every field a project admin may change, in the order the settings page shows them.
SETTINGS_FIELDS = (
    "name", "criterion", "labelers_per_prompt", "max_labelers_per_prompt", "agreement_target", "allow_ties",
    "reservation_minutes",
    "generation_enabled", "target_completions", "llm_base_url", "llm_model", "llm_api_key_env",
    "temperature", "top_p", "max_tokens", "system_prompt", "generation_concurrency",
)

LABELS = {
    "slug": "Slug",
    "name": "Name",
    "criterion": "Criterion",
    "labelers_per_prompt": "Labelers per prompt",
    "max_labelers_per_prompt": "Maximum labelers per prompt",
    "agreement_target": "Agreement target",
    "allow_ties": "Allow ties",
    "reservation_minutes": "Reservation minutes",
    "instructions": "Instructions",
    "generation_enabled": "Generate completions",
    "target_completions": "Target completions per prompt",
    "llm_base_url": "Base URL",
    "llm_model": "Model",
    "llm_api_key_env": "API key environment variable",
    "temperature": "Temperature",
    "top_p": "Top p",
    "max_tokens": "Max tokens",
    "system_prompt": "System prompt",
    "generation_concurrency": "Concurrent requests",
}

# Inclusive bounds of the numeric settings, but for the lower bounds of EXCLUSIVE_LOW (servers
# refuse top_p 0; an agreement target of 0 would never ask for anyone).
LIMITS: dict[str, tuple[float, float]] = {
    "labelers_per_prompt": (1, 50),
    "max_labelers_per_prompt": (1, 50),
    "agreement_target": (0.0, 1.0),
    "reservation_minutes": (1, 24 * 60),
    "target_completions": (2, 20),
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "max_tokens": (1, 32_768),
    "generation_concurrency": (1, 64),
}
EXCLUSIVE_LOW = frozenset({"top_p", "agreement_target"})
MAX_LENGTHS = {"slug": 64, "name": 200, "criterion": 100, "llm_base_url": 500, "llm_model": 200,
               "llm_api_key_env": 100}

SLUG = re.compile(r"[-a-zA-Z0-9_]+\Z")
# Slugs that would shadow a page under /projects/.
RESERVED_SLUGS = frozenset({"new"})
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*\Z")
# A project admin who is not a site admin may only name variables that hold LLM keys by their name's
# end: the workers send the variable's value to the project's base URL, which that admin chooses, so
# any other name (SECRET_KEY, DATABASE_URL) would let them read a server secret.
KEY_SUFFIXES = ("_API_KEY", "_API_TOKEN")
LOCAL_PREFIX = "local:"


def slug_errors(slug: str, *, taken: bool) -> list[str]:
    if not slug:
        return ["Slug is required."]
    if len(slug) > MAX_LENGTHS["slug"]:
        return [f"Slug must be at most {MAX_LENGTHS['slug']} characters."]
    if not SLUG.match(slug):
        return ["Slug may contain only letters, digits, hyphens and underscores (it is part of the project's URLs)."]
    if slug in RESERVED_SLUGS:
        return [f"Slug {slug!r} is reserved; choose another."]
    if taken:
        return [f"Slug {slug!r} is taken: a project with this slug already exists."]
    return []


def field_error(field: str, value: object, *, site_admin: bool) -> str | None:
    """The message naming `field` when `value` breaks its own rule, else None."""
    label = LABELS[field]
    if field in MAX_LENGTHS and isinstance(value, str) and len(value) > MAX_LENGTHS[field]:
        return f"{label} must be at most {MAX_LENGTHS[field]} characters."
    if field in ("name", "criterion") and not str(value).strip():
        return f"{label} may not be blank."
    if field in LIMITS:
        low, high = LIMITS[field]
        too_low = value <= low if field in EXCLUSIVE_LOW else value < low
        if too_low or value > high:
            lower = f"above {low:g}" if field in EXCLUSIVE_LOW else f"from {low:g}"
            return f"{label} must be {lower} to {high:g}; got {value:g}."
    if field == "llm_base_url" and value:
        if value.startswith(LOCAL_PREFIX):
            if not site_admin:
                return f"{label}: only site admins may use a local model ({LOCAL_PREFIX}/path)."
        elif not re.match(r"https?://[^/\s]+(/\S*)?\Z", value):
            return f"{label} must be an http:// or https:// URL, e.g. http://127.0.0.1:8000/v1."
    if field == "llm_api_key_env" and value:
        if not ENV_NAME.match(value):
            return (f"{label} must be the NAME of an environment variable (capital letters, digits and "
                    f"underscores, e.g. OPENAI_API_KEY), never the key itself.")
        if not site_admin and not value.endswith(KEY_SUFFIXES):
            return (f"{label} must end in {' or '.join(KEY_SUFFIXES)} (e.g. OPENAI_API_KEY): the workers "
                    f"send this variable to the base URL, so other server variables are off limits.")
    return None


def settings_errors(
    values: Mapping[str, object],
    changed: Collection[str],
    *,
    site_admin: bool,
    default_model: str = "",
) -> dict[str, list[str]]:
    """Field name → messages naming the field, for the `changed` fields of `values` (the settings
    as they would be after the change). Fields not changed are not re-judged, so a value stored
    before a rule existed does not block an unrelated change."""
    errors: dict[str, list[str]] = {}
    for field in changed:
        if field in LABELS and field in values and values[field] is not None:
            message = field_error(field, values[field], site_admin=site_admin)
            if message:
                errors.setdefault(field, []).append(message)
    for field, message in cross_field_errors(values, changed, default_model=default_model).items():
        if field not in errors:
            errors[field] = [message]
    return errors


def cross_field_errors(values: Mapping[str, object], changed: Collection[str], *,
                       default_model: str = "") -> dict[str, str]:
    """The rules that join several fields (judged when one of them changes)."""
    errors: dict[str, str] = {}
    if "max_labelers_per_prompt" in changed:
        k, maximum = values.get("labelers_per_prompt"), values.get("max_labelers_per_prompt")
        if isinstance(k, int) and isinstance(maximum, int) and maximum < k:
            errors["max_labelers_per_prompt"] = (
                f"Maximum labelers per prompt must be at least labelers per prompt ({k}); equal to it turns "
                f"adaptive overlap off.")
    generation_fields = {"generation_enabled", "llm_model", "llm_base_url"}
    if generation_fields & set(changed) and values.get("generation_enabled"):
        local = str(values.get("llm_base_url") or "").startswith(LOCAL_PREFIX)
        if not values.get("llm_model") and not default_model and not local:
            errors["llm_model"] = "Model is required when generation is on (this server has no default model)."
    return errors


def maximum_after_k_change(old_k: int, old_max: int, new_k: int) -> int:
    """The maximum labelers per prompt once k changes and the maximum is not given: it follows k
    while adaptive overlap is off (the maximum was k), and never stays below k."""
    return new_k if old_max <= old_k or old_max < new_k else old_max
