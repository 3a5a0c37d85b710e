"""OCI distribution client, Wasm image formats and the Pulumi dynamic providers that publish images.

- :mod:`acpw.oci.formats`: media types, the Wasm module check, deterministic image builders
  and Istio's Wasm fetcher rules per Istio version.
- :mod:`acpw.oci.client`: a registry client on top of the ``oras`` library.
- :mod:`acpw.oci.transfer`: copy, push and resolve operations used by the providers.
- :mod:`acpw.oci.provider`: the dynamic resources ``ImagePush`` and ``ImageDigest``.
"""
