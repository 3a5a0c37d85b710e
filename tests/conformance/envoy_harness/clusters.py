"""CDS from ``ServiceEntry`` + ``DestinationRule``, with the endpoint mapped to the fake one.

Every ``ServiceEntry`` visible in the gateway namespace gives one cluster
``outbound|<port>||<host>`` per host and port, with the DestinationRule's TLS
(``UpstreamTlsContext``, its ``sni``, CA validation and the ``subjectAltNames`` name check as
istiod renders it). The DNS address is mapped to a local fake
CloudWatch endpoint; ``caCertificates`` (a path, or ``system`` = the OS bundle, also the default
from 1.21) keeps its container path, which the Envoy process maps to the test CA.
"""

from __future__ import annotations

from collections.abc import Sequence

from acpw.istio_versions import IstioVersion
from tests.conformance.envoy_harness import HarnessError
from tests.conformance.envoy_harness.selection import Workload, exported_to, host_matches
from tests.conformance.objects import Obj, object_ref

OS_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
"""Where ``caCertificates: system`` (and the 1.21+ default) points inside the proxy image."""


def build_clusters(
    objects: Sequence[Obj], workload: Workload, version: IstioVersion, endpoint_port: int
) -> tuple[list[Obj], set[str]]:
    """CDS from ServiceEntry + DestinationRule; returns clusters and the CA paths they name."""
    clusters: list[Obj] = []
    ca_paths: set[str] = set()
    names: set[str] = set()
    rules = [
        o
        for o in objects
        if o.get("kind") == "DestinationRule" and exported_to(o, workload.namespace)
    ]
    for se in objects:
        if se.get("kind") != "ServiceEntry" or not exported_to(se, workload.namespace):
            continue
        spec = se.get("spec", {})
        for host in spec.get("hosts", []):
            for port in spec.get("ports", []):
                name = f"outbound|{port['number']}||{host}"
                if name in names:
                    continue
                names.add(name)
                cluster: Obj = {
                    "name": name,
                    # STRICT_DNS in istiod; the DNS answer is mapped to the fake endpoint.
                    "type": "STATIC",
                    "connect_timeout": "5s",
                    "load_assignment": {
                        "cluster_name": name,
                        "endpoints": [
                            {
                                "lb_endpoints": [
                                    {
                                        "endpoint": {
                                            "address": {
                                                "socket_address": {
                                                    "address": "127.0.0.1",
                                                    "port_value": endpoint_port,
                                                }
                                            }
                                        }
                                    }
                                ]
                            }
                        ],
                    },
                }
                rule = next(
                    (r for r in rules if host_matches(r.get("spec", {}).get("host", ""), host)),
                    None,
                )
                tls = _tls_settings(rule, port["number"]) if rule else None
                if tls is not None:
                    socket_config = _upstream_tls(
                        tls, rule, version, ca_paths, list(spec.get("subjectAltNames") or [])
                    )
                    if socket_config is not None:
                        cluster["transport_socket"] = socket_config
                clusters.append(cluster)
    return clusters, ca_paths


def _tls_settings(rule: Obj, port: int) -> Obj | None:
    policy = rule.get("spec", {}).get("trafficPolicy", {}) or {}
    for level in policy.get("portLevelSettings", []) or []:
        if level.get("port", {}).get("number") == port and "tls" in level:
            tls: Obj | None = level["tls"]
            return tls
    found: Obj | None = policy.get("tls")
    return found


def _upstream_tls(
    tls: Obj,
    rule: Obj | None,
    version: IstioVersion,
    ca_paths: set[str],
    service_entry_sans: list[str],
) -> Obj | None:
    where = f"{object_ref(rule or {})} spec.trafficPolicy.tls"
    mode = tls.get("mode", "DISABLE")
    if mode == "DISABLE":
        return None
    if mode != "SIMPLE":
        raise HarnessError(f"{where}.mode {mode!r}: only SIMPLE is modelled")
    context: Obj = {"common_tls_context": {}}
    if not tls.get("sni"):
        # istiod would set auto_sni and auto_san_validation (SNI and name check from the
        # request's host); the receiver's calls carry the hard-coded host, so not modelled.
        raise HarnessError(f"{where}.sni is empty: auto_sni / auto_san_validation not modelled")
    context["sni"] = tls["sni"]
    ca = tls.get("caCertificates")
    # insecureSkipVerify drops the whole validation context (CA and names) in istiod; without it
    # a CA is used when given, and from 1.21 by default (the OS bundle).
    verify = not tls.get("insecureSkipVerify") and (bool(ca) or version.at_least(21))
    if verify:
        path = OS_CA_BUNDLE if (not ca or ca == "system") else str(ca)
        ca_paths.add(path)
        validation: Obj = {"trusted_ca": {"filename": path}}
        # As istiod: the DestinationRule's subjectAltNames, else the ServiceEntry's, become
        # exact matchers in the deprecated untyped field, which Envoy expands into one typed
        # matcher per SAN type (DNS, URI, EMAIL, IP_ADDRESS). Sources: istio/istio
        # pilot/pkg/networking/core/cluster_tls.go constructUpstreamTLS
        # (``MatchSubjectAltNames: util.StringToExactMatch(tls.SubjectAltNames)``; in
        # networking/core/v1alpha3 before 1.22) and envoyproxy/envoy
        # source/common/ssl/certificate_validation_context_config_impl.cc
        # getSubjectAltNameMatchers.
        sans = tls.get("subjectAltNames") or service_entry_sans
        if sans:
            validation["match_subject_alt_names"] = [{"exact": str(s)} for s in sans]
        context["common_tls_context"]["validation_context"] = validation
    return {
        "name": "envoy.transport_sockets.tls",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
            **context,
        },
    }
