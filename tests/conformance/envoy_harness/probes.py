"""The probe Wasm modules standing in for the ACPW receiver and sender.

They are C sources in ``tests/conformance/envoy/probes/``, built with clang for wasm32.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.sender import WASM_MAGIC

PROBES_DIR = Path(__file__).resolve().parents[1] / "envoy" / "probes"


@dataclass(frozen=True)
class ProbeModules:
    receiver: Path
    sender: Path
    compressing_sender: Path
    """The sender compressing each message with Envoy's ``compress``, as the published one does."""


def build_probes(out_dir: Path) -> ProbeModules:
    """Compiles the probe receiver and sender (C, clang --target=wasm32, wasm-ld) into out_dir."""
    clang = shutil.which("clang") or shutil.which("clang-14")
    if clang is None:
        raise HarnessError("clang is not installed (apt-get install clang lld)")
    out_dir.mkdir(parents=True, exist_ok=True)
    built: dict[str, Path] = {}
    for name, source, defines in (
        ("receiver", "receiver", []),
        ("sender", "sender", []),
        ("sender-compressing", "sender", ["-DACPW_PROBE_COMPRESS"]),
    ):
        out = out_dir / f"{name}.wasm"
        cmd = [
            clang,
            "--target=wasm32",
            "-nostdlib",
            "-ffreestanding",
            "-O2",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-unused-function",
            "-fuse-ld=lld",
            "-Wl,--no-entry",
            "-Wl,--strip-all",
            *defines,
            "-o",
            str(out),
            str(PROBES_DIR / f"{source}.c"),
        ]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0 or not out.read_bytes().startswith(WASM_MAGIC):
            raise HarnessError(
                f"building probe {name}.wasm failed:\n{' '.join(cmd)}\n{result.stderr}"
            )
        built[name] = out
    return ProbeModules(
        receiver=built["receiver"],
        sender=built["sender"],
        compressing_sender=built["sender-compressing"],
    )
