"""Benchmark: the offline render of the real program against the SDK floor.

    make bench        # or: python -m tools.bench [--pairs N] [--gateways 1,100]

For each gateway count, one process renders the real program (``__main__.py`` under the mock
engine), and one process registers the same resources as generic ``CustomResource`` and
``ComponentResource`` objects under the same mock engine: the floor, what any Pulumi Python
program with that many resources costs (interpreter, SDK, engine round trips). Both are timed
from the outside, start-up and imports included, in pairs (the order alternates), and the
medians are compared. Ratios, not absolute times, are what to compare between changes and
machines; the goal (issue 15) is at most 2x the floor at one gateway and 1.5x at 100.
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
GATEWAY_COUNTS = (1, 100)
ISTIO_VERSION = "1.30"


def gateways(count: int) -> list[dict[str, object]]:
    """``count`` gateways, alternating the two installers of the release."""
    return [
        {
            "name": f"gateway-{i}",
            "namespace": f"ns-{i % 4}",
            "selector": {"app": f"gateway-{i}"},
            "installer": "deploymentPatch" if i % 2 else "istioOperator",
        }
        for i in range(count)
    ]


def bench_config(count: int) -> dict[str, Any]:
    from tests.matrix import matrix_config

    return matrix_config(ISTIO_VERSION, gateways=gateways(count))


def run_program(count: int) -> int:
    """Child: render the real program; returns the number of registrations."""
    from tools.render import render_stack

    return len(render_stack("bench", config=bench_config(count)).registrations)


def record_resources(count: int, path: Path) -> int:
    """Write the registrations of a real render as the floor replays them."""
    from tools.render import render_stack

    registrations = render_stack("bench", config=bench_config(count)).registrations
    resources = [
        {
            "type": r.type,
            "name": r.name,
            "urn": r.urn,
            "parent": r.parent,
            "custom": r.custom,
            "inputs": r.plain_inputs(),
        }
        for r in registrations
    ]
    path.write_text(json.dumps({"resources": resources, "sdk_modules": _loaded_sdk_modules()}))
    return len(resources)


def _loaded_sdk_modules() -> list[str]:
    """Provider SDK modules executed so far (the SDKs import their submodules lazily: a module
    not yet executed is still a ``LazyLoader`` subclass of ModuleType)."""
    return sorted(
        name
        for name, module in sys.modules.items()
        if name.split(".")[0] in ("pulumi_aws", "pulumi_kubernetes", "pulumi_docker")
        and type(module) is types.ModuleType
    )


def run_floor(path: Path, *, with_sdks: bool = False) -> list[tuple[str, str, str]]:
    """Child: the same resources as generic resources, nothing of the program imported
    (``with_sdks``: after importing the provider SDK modules the program loads)."""
    import pulumi

    from tools import mock_engine, pulumi_sdk

    spec = json.loads(path.read_text())
    resources = spec["resources"]
    if with_sdks:
        for name in spec["sdk_modules"]:
            importlib.import_module(name)
    monitor = mock_engine.install("acpw", "bench", {})

    def program() -> None:
        by_urn: dict[str, pulumi.Resource] = {}
        for r in resources:
            parent = by_urn.get(r["parent"])
            opts = pulumi.ResourceOptions(parent=parent)
            if r["custom"]:
                resource: pulumi.Resource = pulumi.CustomResource(
                    r["type"], r["name"], r["inputs"], opts=opts
                )
            else:
                resource = pulumi.ComponentResource(r["type"], r["name"], None, opts=opts)
            by_urn[r["urn"]] = resource

    try:
        pulumi_sdk.run_program(program)
    finally:
        mock_engine.shutdown()
    return [(r.type, r.name, r.parent) for r in monitor.registrations]


def _timed(args: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "tools.bench", *args], cwd=ROOT, check=True)
    return time.perf_counter() - start


def compare(count: int, pairs: int, workdir: Path) -> tuple[int, dict[str, float]]:
    """Median seconds of the program, the floor and the floor with SDKs over ``pairs`` runs each
    (run round-robin, the order rotating, so that drift of the machine hits all three)."""
    spec = workdir / f"resources-{count}.json"
    resources = record_resources(count, spec)
    runs = {
        "program": ["--child-program", str(count)],
        "floor": ["--child-floor", str(spec)],
        "floor+sdks": ["--child-floor-sdks", str(spec)],
    }
    samples: dict[str, list[float]] = {kind: [] for kind in runs}
    order = list(runs)
    for pair in range(pairs):
        for kind in order[pair % 3 :] + order[: pair % 3]:
            samples[kind].append(_timed(runs[kind]))
    return resources, {kind: statistics.median(values) for kind, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=5, help="paired runs per gateway count")
    parser.add_argument(
        "--gateways",
        default=",".join(str(c) for c in GATEWAY_COUNTS),
        help="comma-separated gateway counts",
    )
    parser.add_argument("--child-program", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-floor-sdks", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_program is not None:
        run_program(args.child_program)
        return
    if args.child_floor is not None:
        run_floor(args.child_floor)
        return
    if args.child_floor_sdks is not None:
        run_floor(args.child_floor_sdks, with_sdks=True)
        return
    print(
        f"{'gateways':>8} {'resources':>9} {'program s':>9} {'floor s':>8} {'ratio':>6}"
        f" {'floor+sdks s':>12} {'ratio':>6}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in (int(c) for c in args.gateways.split(",")):
            resources, median = compare(count, args.pairs, Path(tmp))
            program, floor, sdks = median["program"], median["floor"], median["floor+sdks"]
            print(
                f"{count:>8} {resources:>9} {program:>9.2f} {floor:>8.2f} {program / floor:>6.2f}"
                f" {sdks:>12.2f} {program / sdks:>6.2f}"
            )


if __name__ == "__main__":
    main()
