"""Builds the project's batching receiver (receiver/batching.c) into the committed .wasm.

    python -m tools.receiver_wasm           rebuild acpw/modules/batching-receiver.wasm
    python -m tools.receiver_wasm --check   fail when the committed file is not what the
                                            source builds to (tests/test_receiver_wasm.py)

C for wasm32 with clang and lld (``make system-deps``). The clang command line lives here only:
the test probes (tests/conformance/envoy_harness/probes.py) are built with ``compile_c`` too,
and include the shared C of ``receiver/proxy_wasm.h`` (``-I receiver``). The build
is deterministic (no timestamps, paths or build ids in a stripped wasm32 module); the pinned
toolchain is Debian 12's clang 14, which CI installs too: another clang may emit other bytes, and
the check then names the version that built the committed file.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INCLUDE = ROOT / "receiver"
"""Where ``proxy_wasm.h`` is: the proxy-wasm C the modules and the test probes share."""
SOURCE = INCLUDE / "batching.c"
MODULE = ROOT / "acpw" / "modules" / "batching-receiver.wasm"
CLANG_MAJOR = 14
"""The clang major version the committed module is built with (Debian 12's ``clang``)."""
FLAGS = (
    "--target=wasm32",
    "-nostdlib",
    "-ffreestanding",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-fuse-ld=lld",
    "-Wl,--no-entry",
    "-Wl,--strip-all",
)


def find_clang() -> str | None:
    return shutil.which("clang") or shutil.which(f"clang-{CLANG_MAJOR}")


def clang() -> str:
    found = find_clang()
    if found is None:
        raise SystemExit("clang is not installed: make system-deps (apt-get install clang lld)")
    return found


def clang_version() -> str:
    out = subprocess.run([clang(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def command(source: Path, out: Path, extra: Sequence[str] = ()) -> list[str]:
    """The clang command building the C module ``source`` (a file of this repository) into
    ``out``, run in ROOT: relative source and include paths, so no host path gets inside."""
    include = INCLUDE.relative_to(ROOT)
    return [clang(), *FLAGS, f"-I{include}", *extra, "-o", str(out), str(source.relative_to(ROOT))]


def compile_c(source: Path, out: Path, extra: Sequence[str] = ()) -> str | None:
    """Builds ``source`` into ``out`` (``command``): None when it did, else the command and
    clang's errors."""
    cmd = command(source, out, extra)
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        return f"{' '.join(cmd)}\n{result.stderr}"
    return None


def build(out: Path) -> Path:
    """Compiles receiver/batching.c into ``out``."""
    problem = compile_c(SOURCE, out)
    if problem is not None:
        raise SystemExit(f"building {SOURCE.name} failed:\n{problem}")
    return out


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check() -> str | None:
    """None when the committed module is what the source builds to, else what differs."""
    with tempfile.TemporaryDirectory() as tmp:
        built = build(Path(tmp) / "receiver.wasm")
        if not MODULE.exists():
            return f"{MODULE.relative_to(ROOT)} is missing: run make receiver-wasm"
        if built.read_bytes() != MODULE.read_bytes():
            return (
                f"{MODULE.relative_to(ROOT)} (sha256 {digest(MODULE)}) is not what "
                f"{SOURCE.relative_to(ROOT)} builds to (sha256 {digest(built)}) with "
                f"{clang_version()}: run make receiver-wasm and commit the result (the committed "
                f"module is built with clang {CLANG_MAJOR})"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.check:
        problem = check()
        if problem:
            print(problem, file=sys.stderr)
            return 1
        print(f"{MODULE.relative_to(ROOT)} is up to date (sha256 {digest(MODULE)})")
        return 0
    MODULE.parent.mkdir(parents=True, exist_ok=True)
    build(MODULE)
    print(
        f"built {MODULE.relative_to(ROOT)}: {MODULE.stat().st_size} bytes, sha256 {digest(MODULE)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
