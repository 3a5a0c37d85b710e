"""Error messages a new user meets: typos name the allowed keys and the likely one, hints only
where they apply, and an unknown Istio patch release is a warning."""

from __future__ import annotations

from typing import Any

import pytest

from acpw.config import ConfigError, config_warnings, load_config
from acpw.istio_versions import NEWEST_KNOWN_PATCH


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load_config(raw, project="p", stack="s", aws_region="ap-northeast-1")
    return error.value.problems


@pytest.mark.parametrize(
    ("raw", "key", "likely"),
    [
        ({"gatways": []}, "acpw:gatways", "gateways"),
        ({"iam": {"keyGenration": 2}}, "acpw:iam.keyGenration", "keyGeneration"),
        (
            {"gateways": [{"name": "a", "namespace": "b", "selector": {"a": "b"}, "instaler": 1}]},
            "acpw:gateways[0].instaler",
            "installer",
        ),
        ({"observability": {"heartbeet": {}}}, "acpw:observability.heartbeet", "heartbeat"),
        (
            {"observability": {"heartbeat": {"pth": "/"}}},
            "acpw:observability.heartbeat.pth",
            "path",
        ),
    ],
)
def test_a_typo_names_the_allowed_keys_and_the_likely_one(
    raw: dict[str, Any], key: str, likely: str
) -> None:
    [problem] = _problems({"istioVersion": "1.20", **raw})
    assert problem.startswith(f"{key}: unknown key; allowed: ")
    assert f"(did you mean {likely!r}?)" in problem
    allowed = problem.split("allowed: ", 1)[1].split(" (", 1)[0].split(", ")
    assert likely in allowed and allowed == sorted(allowed)


def test_an_unknown_key_far_from_any_gets_no_guess() -> None:
    [problem] = _problems({"istioVersion": "1.20", "iam": {"zzzzzz": 1}})
    assert "unknown key; allowed: " in problem and "did you mean" not in problem


def test_a_word_where_a_number_belongs_is_not_told_to_drop_quotes() -> None:
    [problem] = _problems({"istioVersion": "1.20", "iam": {"keyGeneration": "two"}})
    assert problem == "acpw:iam.keyGeneration: 'two' is not a whole number"


def test_a_quoted_number_is_told_to_drop_quotes() -> None:
    [problem] = _problems({"istioVersion": "1.20", "iam": {"keyGeneration": "2"}})
    assert "'2' is text: write the number without quotes" in problem
    assert "receiver" not in problem  # keyGeneration never reaches the receiver


@pytest.mark.parametrize(("written", "hinted"), [("1.2", True), ("1.3", True), ("1.9", False)])
def test_the_unquoted_yaml_hint_only_where_it_explains_the_value(
    written: str, hinted: bool
) -> None:
    [problem] = _problems({"istioVersion": written})
    assert ("YAML read it as a number" in problem) is hinted


def test_an_unknown_patch_release_is_a_warning_naming_the_newest_known() -> None:
    newest = NEWEST_KNOWN_PATCH[13]
    config = load_config(
        {"istioVersion": f"1.13.{newest + 90}"}, project="p", stack="s", aws_region="ap-northeast-1"
    )
    [warning] = [w for w in config_warnings(config) if w.startswith("acpw:istioVersion")]
    assert f"(1.13.{newest})" in warning
    known = load_config(
        {"istioVersion": f"1.13.{newest}"}, project="p", stack="s", aws_region="ap-northeast-1"
    )
    assert not [w for w in config_warnings(known) if w.startswith("acpw:istioVersion")]


def test_every_supported_minor_has_a_newest_known_patch() -> None:
    from acpw.istio_versions import supported_minors

    assert set(NEWEST_KNOWN_PATCH) == set(supported_minors())
