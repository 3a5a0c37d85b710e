"""Fixtures: one plain-HTTP registry and one TLS + htpasswd registry per test session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.oci.registry import RunningRegistry, start_registry


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(Path(tmp_path_factory.mktemp("registry-plain")), secure=False) as registry:
        yield registry


@pytest.fixture(scope="session")
def secure_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    with start_registry(Path(tmp_path_factory.mktemp("registry-tls")), secure=True) as registry:
        yield registry
