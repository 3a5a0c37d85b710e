"""The policy pack's Istio thresholds are the program's: each is held to acpw/istio_versions.py.

The pack runs in a venv of its own (without the acpw package), so it restates them."""

from __future__ import annotations

import pytest

from acpw.istio_versions import CHANGES
from policy import acpw_policy as pack

SINCE = {change.name: change.since for change in CHANGES}


@pytest.mark.parametrize(
    ("threshold", "change"),
    [
        ("BOOTSTRAP_IGNORED_FROM", "bootstrap_override"),
        ("TLS_VERIFIES_BY_DEFAULT_FROM", "tls_verifies_by_default"),
        ("FAIL_STRATEGY_FROM", "wasm_fail_strategy"),
        ("NETWORKING_V1_FROM", "networking_v1"),
    ],
)
def test_each_pack_threshold_is_the_release_the_version_table_names(
    threshold: str, change: str
) -> None:
    assert getattr(pack, threshold) == SINCE[change]


def test_every_version_threshold_of_the_pack_is_checked() -> None:
    thresholds = {name for name in vars(pack) if name.endswith("_FROM")}
    assert thresholds == {
        "BOOTSTRAP_IGNORED_FROM",
        "TLS_VERIFIES_BY_DEFAULT_FROM",
        "FAIL_STRATEGY_FROM",
        "NETWORKING_V1_FROM",
    }
