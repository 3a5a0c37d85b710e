"""The acpw policy pack: `pulumi preview --policy-pack policy` (see docs/workflows.md, "The policy pack").

The policies live in acpw_policy.py (pure, tested directly). Here they only meet the engine:
the stack's acpw:istioVersion (the CLI hands the pack the stack config) becomes the default
istioVersion of the version-dependent policies, and secrets stay visible to the validations.
"""

import pulumi
from acpw_policy import PACK_NAME, build_policies, preserve_secret_markers
from pulumi_policy import EnforcementLevel, PolicyPack

preserve_secret_markers()

PolicyPack(
    name=PACK_NAME,
    enforcement_level=EnforcementLevel.MANDATORY,
    policies=build_policies(pulumi.Config("acpw").get("istioVersion")),
)
