"""The rules of a project's settings, as plain functions: the settings page, the new-project page
and the API all answer with these messages."""

import pytest

from annotations.project_rules import settings_errors, slug_errors


def errors(site_admin=False, **values):
    return settings_errors(values, changed=values.keys(), site_admin=site_admin)


@pytest.mark.parametrize(("field", "value"), [
    ("labelers_per_prompt", 0), ("labelers_per_prompt", 51), ("reservation_minutes", 0),
    ("target_completions", 1), ("temperature", -0.1), ("temperature", 2.5), ("top_p", 0.0), ("top_p", 1.01),
    ("max_tokens", 0), ("generation_concurrency", 65),
])
def test_numbers_out_of_range_are_refused_with_the_fields_label(field, value):
    found = errors(**{field: value})
    assert list(found) == [field]
    assert "must be" in found[field][0]


def test_k_out_of_range_names_labelers_per_prompt_and_the_bounds():
    assert errors(labelers_per_prompt=0) == {
        "labelers_per_prompt": ["Labelers per prompt must be from 1 to 50; got 0."]}


def test_values_at_the_bounds_are_accepted():
    assert errors(labelers_per_prompt=1, temperature=0.0, top_p=1.0, max_tokens=32_768, reservation_minutes=1440) == {}


@pytest.mark.parametrize("name", ["sk-abc123", "openai_api_key", "1_API_KEY", "MY KEY", "OPENAI-API-KEY"])
def test_api_key_env_must_look_like_a_variable_name(name):
    assert "NAME of an environment variable" in errors(site_admin=True, llm_api_key_env=name)["llm_api_key_env"][0]


def test_project_admins_may_only_name_api_key_variables_site_admins_any():
    assert errors(llm_api_key_env="OPENAI_API_KEY") == {}
    assert "_API_KEY" in errors(llm_api_key_env="SECRET_KEY")["llm_api_key_env"][0]
    assert "_API_KEY" in errors(llm_api_key_env="DATABASE_URL")["llm_api_key_env"][0]
    assert errors(site_admin=True, llm_api_key_env="LABELHUB_TEST_LLM_KEY") == {}


def test_base_url_must_be_http_and_local_models_are_for_site_admins():
    assert errors(llm_base_url="http://127.0.0.1:8001/v1") == {}
    assert "http://" in errors(llm_base_url="ftp://x")["llm_base_url"][0]
    assert "site admins" in errors(llm_base_url="local:/models/tiny")["llm_base_url"][0]
    assert errors(site_admin=True, llm_base_url="local:/models/tiny") == {}


def test_generation_needs_a_model_when_the_server_has_no_default():
    assert "Model is required" in errors(generation_enabled=True, llm_model="")["llm_model"][0]
    assert settings_errors({"generation_enabled": True, "llm_model": ""}, ["generation_enabled"],
                           site_admin=False, default_model="qwen") == {}


def test_blank_name_and_criterion_are_refused():
    assert set(errors(name="  ", criterion="")) == {"name", "criterion"}


def test_unchanged_fields_are_not_judged_again():
    stored = {"llm_api_key_env": "LABELHUB_TEST_LLM_KEY", "name": "x"}
    assert settings_errors(stored, changed=["name"], site_admin=False) == {}


@pytest.mark.parametrize(("slug", "taken", "fragment"), [
    ("", False, "required"), ("has space", False, "letters, digits"), ("new", False, "reserved"),
    ("x" * 65, False, "at most 64"), ("helpful", True, "taken"),
])
def test_bad_slugs_are_refused(slug, taken, fragment):
    assert fragment in slug_errors(slug, taken=taken)[0]


def test_good_slug_passes():
    assert slug_errors("harmless_v2-en", taken=False) == []
