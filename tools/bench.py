"""Benchmark: how the offline render (the real program under the mock engine) scales.

    make bench        # or: python -m tools.bench [--repeat N]

Prints the time per render for 1, 4 and 16 gateways and the ratios to 1 gateway, measured in one
run (ratios, not absolute times, are what to compare between changes). Linear growth in the
number of gateways is expected: every gateway adds the same handful of resources.
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.matrix import matrix_config
from tools.render import render_stack

GATEWAY_COUNTS = (1, 4, 16)


def gateways(count: int) -> list[dict[str, object]]:
    return [
        {
            "name": f"gateway-{i}",
            "namespace": f"ns-{i % 4}",
            "selector": {"app": f"gateway-{i}"},
            "installer": "deploymentPatch" if i % 2 else "istioOperator",
        }
        for i in range(count)
    ]


def time_render(count: int, repeat: int) -> tuple[float, int]:
    config = matrix_config("1.23", gateways=gateways(count))
    samples = []
    resources = 0
    for _ in range(repeat):
        start = time.perf_counter()
        render = render_stack("bench", config=config)
        samples.append(time.perf_counter() - start)
        resources = len(render.registrations)
    return statistics.median(samples), resources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    render_stack("bench", config=matrix_config("1.23"))  # warm up imports
    baseline = None
    print(f"{'gateways':>8} {'resources':>9} {'median s':>9} {'ratio':>6}")
    for count in GATEWAY_COUNTS:
        seconds, resources = time_render(count, args.repeat)
        baseline = baseline or seconds
        print(f"{count:>8} {resources:>9} {seconds:>9.3f} {seconds / baseline:>6.2f}")


if __name__ == "__main__":
    main()
