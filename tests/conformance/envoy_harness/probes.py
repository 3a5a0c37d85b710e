"""The probe Wasm modules standing in for the ACPW receiver and sender.

They are C sources in ``tests/conformance/envoy/probes/``, built with clang for wasm32 by the
command that builds the product's receiver (tools/receiver_wasm.py), on its shared C
(receiver/proxy_wasm.h).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.sender import WASM_MAGIC
from tools import receiver_wasm

PROBES_DIR = Path(__file__).resolve().parents[1] / "envoy" / "probes"


@dataclass(frozen=True)
class ProbeModules:
    receiver: Path
    sender: Path
    compressing_sender: Path
    """The sender compressing each message with Envoy's ``compress``, as the published one does."""


def build_probes(out_dir: Path) -> ProbeModules:
    """Compiles the probe receiver and sender into out_dir, with the product's clang command
    (tools/receiver_wasm.py) and its shared C (receiver/proxy_wasm.h)."""
    if receiver_wasm.find_clang() is None:
        raise HarnessError("clang is not installed (apt-get install clang lld)")
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for name, source, defines in (
        ("receiver", "receiver", []),
        ("sender", "sender", []),
        ("sender-compressing", "sender", ["-DACPW_PROBE_COMPRESS"]),
    ):
        out = out_dir / f"{name}.wasm"
        problem = receiver_wasm.compile_c(
            PROBES_DIR / f"{source}.c", out, ["-Wno-unused-function", *defines]
        )
        if problem is not None or not out.read_bytes().startswith(WASM_MAGIC):
            raise HarnessError(
                f"building probe {name}.wasm failed:\n{problem or 'not a Wasm module'}"
            )
        built[name] = out
    return ProbeModules(
        receiver=built["receiver"],
        sender=built["sender"],
        compressing_sender=built["sender-compressing"],
    )
