"""Pulumi components that deploy aws-cloudwatch-proxy-wasm (ACPW) onto Istio ingress gateways."""
