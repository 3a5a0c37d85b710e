"""Release 0.1.0 of this program: what its stacks hold, so that an upgrade keeps their pods serving.

0.1.0 used fixed object names (Secret ``acpw-aws-credentials``, ConfigMap ``acpw-bootstrap``,
WasmPlugin ``acpw-sender-<gw>``, EnvoyFilter ``acpw-receiver-<gw>``) whose WasmPlugin and
EnvoyFilter select every pod of the gateway, and marked pods only with a hash annotation.

On the first update with this release:
- the desired generation's WasmPlugin and EnvoyFilter take over the 0.1.0 objects (``aliases``)
  and replace them delete-before-replace: a label-less 0.1.0 selector would also select the new
  pods, which would then run two senders, or two receivers (a proxy that cannot start). Pods
  started by 0.1.0 keep serving traffic; they stop reporting metrics until they are replaced.
- the 0.1.0 Secret and ConfigMap stay while pods of 0.1.0 may run (deleted at the end of an
  update that awaits the rollout; kept by :mod:`acpw.generations` until ``istioctl install``
  has replaced them), so such a pod that restarts still starts;
- both are rebuilt from the current configuration, which is right only when it equals what
  0.1.0 deployed: the pods' hash annotation must match (:func:`rollout_hash`), else the update
  stops and asks to upgrade the program with unchanged settings first.
"""

from __future__ import annotations

import hashlib
import json

from acpw.config import AcpwConfig, ConfigError, GatewayConfig
from acpw.receiver import receiver_bootstrap

LEGACY_SENDER = "acpw-sender-{gateway}"
LEGACY_RECEIVER_FILTER = "acpw-receiver-{gateway}"


def rollout_hash(
    config: AcpwConfig, *, receiver_image: str, sender_url: str, sender_sha256: str | None
) -> str:
    """0.1.0's pod annotation ``aws-cloudwatch-proxy-wasm/bootstrap-hash`` for ``config``."""
    material = {
        "receiverBootstrap": receiver_bootstrap(config),
        "keyGeneration": config.iam.key_generation,
        "receiverImage": receiver_image,
        "senderUrl": sender_url,
        "senderSha256": sender_sha256,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


def resource_names(gateway: GatewayConfig) -> dict[str, str]:
    """0.1.0's Pulumi resource names (under the IstioResources component) of a gateway's objects."""
    ns = gateway.namespace
    return {
        "WasmPlugin": f"wasmplugin-{ns}-{LEGACY_SENDER.format(gateway=gateway.name)}",
        "EnvoyFilter": f"envoyfilter-{ns}-{LEGACY_RECEIVER_FILTER.format(gateway=gateway.name)}",
    }


def check_matches(
    gateway: str, live_hash: str, config: AcpwConfig, images: tuple[str, str, str | None]
) -> None:
    """Stop when the 0.1.0 pods of ``gateway`` were deployed with other settings than these."""
    receiver_image, sender_url, sender_sha256 = images
    expected = rollout_hash(
        config, receiver_image=receiver_image, sender_url=sender_url, sender_sha256=sender_sha256
    )
    if expected != live_hash:
        raise ConfigError(
            [
                f"acpw:gateways: gateway {gateway} runs pods of release 0.1.0 of this program, "
                "deployed with other settings than this stack has now: first run `pulumi up` "
                "with this release and the settings 0.1.0 deployed, then change them"
            ]
        )
