"""Deploys aws-cloudwatch-proxy-wasm for this stack: read and validate config, build, export."""

import pulumi

from acpw.config import load_config, read_stack_config, secret_stack_keys
from acpw.deployment import AcpwDeployment, AcpwDeploymentArgs

config = load_config(
    read_stack_config(),
    project=pulumi.get_project(),
    stack=pulumi.get_stack(),
    aws_region=pulumi.Config("aws").get("region"),
    secret_keys=secret_stack_keys(),
)
acpw = AcpwDeployment("acpw", AcpwDeploymentArgs(config=config))

pulumi.export("userArn", acpw.user_arn)
pulumi.export("secretNames", acpw.secret_names)
pulumi.export("generation", acpw.generation)
pulumi.export("gateways", acpw.gateways)
pulumi.export("cloudwatchConsoleUrl", acpw.cloudwatch_console_url)
pulumi.export("observability", acpw.observability)
if acpw.istio_operator_yaml is not None:
    pulumi.export("istioOperatorYaml", acpw.istio_operator_yaml)
