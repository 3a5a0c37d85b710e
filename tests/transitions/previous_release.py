"""Write the "previous release" fixture: renders of release 0.1.0 of this program.

    git worktree add /tmp/acpw-0.1.0 0038eaf      # main before generations (renders as 0.1.0)
    python tests/transitions/previous_release.py /tmp/acpw-0.1.0 \\
        tests/transitions/fixtures/previous-release.json

Runs the old checkout's own render (its tools.render, its components) under the mock engine
for each configuration below, and keeps what the Pulumi state would hold: every resource's
URN, type, inputs, parent and dependencies. Commit 0038eaf renders byte-identically to the
release (25d516e, before the package rename).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PATCHED = {
    "name": "gw",
    "namespace": "edge",
    "selector": {"app": "gw", "istio": "gw"},
    "installer": "deploymentPatch",
}
OPERATED = {
    "name": "istio-ingressgateway",
    "namespace": "istio-system",
    "selector": {"app": "istio-ingressgateway", "istio": "ingressgateway"},
    "installer": "istioOperator",
}


def _config(version: str, gateway: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "aws:region": "ap-northeast-1",
        "acpw:istioVersion": version,
        "acpw:gateways": [gateway],
        "acpw:images": {"senderDigest": "sha256:" + "11" * 32, **extra.pop("images", {})},
        **{f"acpw:{k}": v for k, v in extra.items()},
    }


CONFIGS: dict[str, dict[str, Any]] = {
    "patch-1.30": _config("1.30", PATCHED),
    "patch-1.30-key2": _config("1.30", PATCHED, iam={"keyGeneration": 2}),
    "patch-1.30-user": _config("1.30", PATCHED, iam={"userName": "renamed-user"}),
    "patch-1.30-always": _config("1.30", PATCHED, images={"pullPolicy": "Always"}),
    "operator-1.13": _config("1.13", OPERATED),
    "operator-1.13-key2": _config("1.13", OPERATED, iam={"keyGeneration": 2}),
    "operator-1.20": _config("1.20", OPERATED),
    "operator-1.20-vm": _config("1.20", OPERATED, receiverVmId="other-receiver"),
    "istioctl-1.24": _config("1.24", OPERATED),
    "istioctl-1.24-key2": _config("1.24", OPERATED, iam={"keyGeneration": 2}),
}


def main(checkout: str, out: str) -> None:
    sys.path.insert(0, str(Path(checkout).resolve()))
    from tools.mock_engine import unwrap_secrets  # type: ignore[import-not-found]
    from tools.render import render_stack  # type: ignore[import-not-found]

    fixture = {}
    for name, config in CONFIGS.items():
        render = render_stack("transition", config=config)
        fixture[name] = {
            "config": config,
            "outputs": render.outputs,
            "registrations": [
                {
                    "urn": r.urn,
                    "type": r.type,
                    "name": r.name,
                    "parent": r.parent,
                    "dependencies": r.dependencies,
                    "custom": r.custom,
                    "inputs": unwrap_secrets(r.inputs),
                }
                for r in render.registrations
            ],
        }
    Path(out).write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
