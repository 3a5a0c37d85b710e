"""``acpw:receiver``: the module choice and the batching receiver's bounded settings."""

from __future__ import annotations

from typing import Any

import pytest

from acpw.config import ConfigError, load_config


def load(raw: dict[str, Any], aws_region: str = "ap-northeast-1"):  # type: ignore[no-untyped-def]
    return load_config(
        {"istioVersion": "1.30", **raw}, project="acpw", stack="dev", aws_region=aws_region
    )


def problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as error:
        load(raw)
    return error.value.problems


def test_default_is_the_published_module() -> None:
    config = load({})
    assert config.receiver.module == "published"
    assert (config.receiver.flush_seconds, config.receiver.max_series) == (60, 1000)
    assert config.signing == "module"


def test_batching_defaults_to_envoy_signing() -> None:
    config = load({"receiver": {"module": "batching"}})
    assert config.signing == "envoy"


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("flushSeconds", 0, "acpw:receiver.flushSeconds: 0 is out of range: allowed 1 to 300"),
        ("flushSeconds", 301, "acpw:receiver.flushSeconds: 301 is out of range: allowed 1 to 300"),
        ("maxSeries", 0, "acpw:receiver.maxSeries: 0 is out of range: allowed 1 to 10,000"),
        (
            "maxSeries",
            10_001,
            "acpw:receiver.maxSeries: 10001 is out of range: allowed 1 to 10,000",
        ),
    ],
)
def test_out_of_range_names_the_key_and_the_range(key: str, value: int, message: str) -> None:
    (problem,) = problems({"receiver": {"module": "batching", key: value}})
    assert problem.startswith(message), problem


def test_numbers_as_text_are_refused() -> None:
    (problem,) = problems({"receiver": {"flushSeconds": "60"}})
    assert problem.startswith("acpw:receiver.flushSeconds:"), problem


def test_unknown_module_and_key() -> None:
    found = problems({"receiver": {"module": "fast", "maxSerie": 3}})
    assert any("acpw:receiver.module: 'fast'" in p for p in found), found
    assert any("did you mean 'maxSeries'" in p for p in found), found


def test_batching_with_module_signing_is_refused() -> None:
    (problem,) = problems({"receiver": {"module": "batching"}, "cloudwatch": {"signing": "module"}})
    assert problem.startswith(
        "acpw:receiver.module: 'batching' needs acpw:cloudwatch.signing: envoy, not 'module'"
    ), problem


def test_batching_before_envoy_signing_names_the_release() -> None:
    (problem,) = problems({"istioVersion": "1.20", "receiver": {"module": "batching"}})
    assert "use Istio 1.22 or later" in problem, problem
