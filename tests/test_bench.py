"""The benchmark compares like with like: the floor registers what the program registers."""

from __future__ import annotations

import json
from pathlib import Path

from tools import bench


def test_the_floor_registers_the_programs_resources(tmp_path: Path) -> None:
    spec = tmp_path / "resources.json"
    count = bench.record_resources(2, spec)
    recorded = json.loads(spec.read_text())
    floor = bench.run_floor(spec)
    assert len(floor) == count
    program = [(r["type"], r["name"], r["parent"]) for r in recorded["resources"]]
    assert sorted(floor) == sorted(program)
    assert any(name.startswith("pulumi_kubernetes.") for name in recorded["sdk_modules"])


def test_the_receiver_benchmark_baseline_has_no_wasm() -> None:
    """bench-receiver compares the batching receiver with the same Envoy and no Wasm at all."""
    from tools import bench_receiver

    objects, _workload = bench_receiver._render(5)
    kinds = {(o["kind"], o["metadata"]["name"].split("-")[1]) for o in objects}
    assert ("WasmPlugin", "sender") in kinds
    assert ("ConfigMap", "receiver") in kinds and ("ConfigMap", "bootstrap") in kinds
    baseline = bench_receiver._without_wasm(objects)
    assert not any(o["kind"] == "WasmPlugin" for o in baseline)
    assert not any(
        o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("acpw-") for o in baseline
    )
