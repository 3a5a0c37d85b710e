"""The committed batching receiver is what its C source builds to (clang, wasm32)."""

from __future__ import annotations

import shutil

import pytest

from tools import receiver_wasm


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
def test_committed_module_is_what_the_source_builds_to() -> None:
    assert receiver_wasm.check() is None


@pytest.mark.skipif(shutil.which("clang") is None, reason="clang is not installed")
def test_the_build_is_deterministic(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = receiver_wasm.build(tmp_path / "a.wasm").read_bytes()
    second = receiver_wasm.build(tmp_path / "b.wasm").read_bytes()
    assert first == second


def test_module_fits_a_configmap() -> None:
    """Delivered as ConfigMap binaryData: base64 of it must stay far under 1 MiB."""
    size = receiver_wasm.MODULE.stat().st_size
    assert receiver_wasm.MODULE.read_bytes()[:4] == b"\x00asm"
    assert size * 4 / 3 < 512 * 1024
