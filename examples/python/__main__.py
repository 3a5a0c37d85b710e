import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import load_config
from acpw.deployment import AcpwDeployment, AcpwDeploymentArgs

config = load_config(
    {"istioVersion": "1.24"},
    # The running stack's names: the IAM user defaults to <project>-<stack>, one per stack.
    project=pulumi.get_project(),
    stack=pulumi.get_stack(),
    aws_region="ap-northeast-1",
)
acpw = AcpwDeployment(
    "acpw",
    AcpwDeploymentArgs(config=config),
    pulumi.ResourceOptions(
        providers=[aws.Provider("aws", region="ap-northeast-1"), k8s.Provider("k8s")]
    ),
)
pulumi.export("acpwUser", acpw.user_arn)
