"""OCI distribution client, Wasm image formats and the Pulumi dynamic providers that publish images.

- :mod:`components.oci.formats`: media types, the Wasm module check, deterministic image builders
  and Istio's Wasm fetcher rules per Istio version.
- :mod:`components.oci.client`: a registry client on top of the ``oras`` library.
- :mod:`components.oci.transfer`: copy, push and resolve operations used by the providers.
- :mod:`components.oci.provider`: the dynamic resources ``ImagePush`` and ``ImageDigest``.
"""
