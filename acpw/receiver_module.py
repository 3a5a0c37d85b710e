"""The project's batching receiver module, shipped inside the package (acpw/modules/).

Built from receiver/batching.c by ``make receiver-wasm`` (tools/receiver_wasm.py); the committed
file is checked against a rebuild (tests/test_receiver_wasm.py). The program reads it here to
deliver it in a content-named ConfigMap (acpw/istio_resources.py): no registry, no push, no
init container, the same from every language and with every installer (docs/ARCHITECTURE.md).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path

BATCHING_MODULE = Path(__file__).resolve().parent / "modules" / "batching-receiver.wasm"
CONFIGMAP_LIMIT = 1024 * 1024
"""Kubernetes: the data stored in a ConfigMap cannot exceed 1 MiB (ConfigMap documentation)."""


@cache
def batching_module() -> bytes:
    data = BATCHING_MODULE.read_bytes()
    if not data.startswith(b"\x00asm"):
        raise RuntimeError(f"{BATCHING_MODULE} is not a Wasm module: run make receiver-wasm")
    return data


def batching_module_sha256() -> str:
    return hashlib.sha256(batching_module()).hexdigest()


def batching_module_base64() -> str:
    encoded = base64.b64encode(batching_module()).decode()
    if len(encoded) >= CONFIGMAP_LIMIT:
        raise RuntimeError(f"{BATCHING_MODULE} does not fit a ConfigMap (1 MiB)")
    return encoded
