"""OCI distribution client and Wasm image formats, used by ``acpw.oci.publish``.

- :mod:`acpw.oci.formats`: media types, the Wasm module check, deterministic image builders
  and Istio's Wasm fetcher rules per Istio version.
- :mod:`acpw.oci.client`: a registry client on top of the ``oras`` library.
- :mod:`acpw.oci.transfer`: push and resolve operations of the publish CLI.
- :mod:`acpw.oci.provider`: what is left of 0.2.0's dynamic providers, so that upgraded stacks
  can delete their state (kept until 0.4.0).

The Pulumi program itself uses none of it but :mod:`acpw.oci.reference` (parsing).
"""
