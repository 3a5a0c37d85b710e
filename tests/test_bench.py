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
