"""Write the "previous release" fixtures: renders of earlier releases of this program.

    git worktree add /tmp/acpw-0.1.0 0038eaf      # main before generations (renders as 0.1.0)
    python tests/transitions/previous_release.py /tmp/acpw-0.1.0 \\
        tests/transitions/fixtures/previous-release.json

    git worktree add /tmp/acpw-0.2.0 83389fc      # main as 0.2.0 users run it
    python tests/transitions/previous_release.py /tmp/acpw-0.2.0 \\
        tests/transitions/fixtures/release-0.2.0.json 0.2.0

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


# Release 0.2.0, one stack per installer (and receiver delivery): its state holds the
# ImagePush/ImageDigest dynamic resources that the next release must still delete cleanly.
CONFIGS_0_2_0: dict[str, dict[str, Any]] = {
    "patch-1.20": _config("1.20", PATCHED),
    "patch-1.30": _config("1.30", PATCHED),
    "operator-1.20": _config("1.20", OPERATED),
    "operator-1.23": _config("1.23", OPERATED),
    "istioctl-1.24": _config("1.24", OPERATED),
    "istioctl-1.30": _config("1.30", OPERATED),
    "patch-1.30-ecr": _config("1.30", PATCHED, images={"registry": "ecr"}),
}
RELEASES = {"0.1.0": CONFIGS, "0.2.0": CONFIGS_0_2_0}


def main(checkout: str, out: str, release: str = "0.1.0") -> None:
    sys.path.insert(0, str(Path(checkout).resolve()))
    from tools.mock_engine import unwrap_secrets  # type: ignore[import-not-found]
    from tools.render import render_stack  # type: ignore[import-not-found]

    fixture = {}
    for name, config in RELEASES[release].items():
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
                    # Older checkouts' mock engines may not record these: then not set.
                    **{
                        option: getattr(r, option)
                        for option in (
                            "aliases",
                            "delete_before_replace",
                            "retain_on_delete",
                            "custom_timeouts",
                        )
                        if release != "0.1.0" and getattr(r, option, None)
                    },
                }
                for r in render.registrations
            ],
        }
    Path(out).write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
