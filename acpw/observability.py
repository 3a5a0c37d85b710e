"""See the metrics, know when they stop, keep the bill in sight: dashboard, alarms, heartbeat, budget.

The module's metric has the dimensions {host, method, path, status}, all four on every data
point, so nothing can be read per single dimension directly:

- the dashboard uses SEARCH expressions over the full schema, summed with metric math
  (``SUM(SEARCH(...))``), and Metrics Insights queries grouped by ``host`` / ``path`` for the
  top-N widgets;
- alarms cannot use SEARCH, so they use Metrics Insights queries (``SELECT SUM(...) FROM
  SCHEMA(...)``), which aggregate over every dimension combination.

Status classes are exact-match lists of status codes (:data:`STATUS_CLASSES`): CloudWatch search
terms match whole values or tokens, not prefixes, so ``status=5`` would not find ``503``. Codes
not listed show up as "other" on the dashboard, so none is silently lost.

The no-data alarm and why it does not fire for an idle gateway: a heartbeat. A CronJob in each
gateway namespace sends one request a minute through the gateway's Service with a counted
``Host``; an idle gateway therefore still produces a data point every minute, and "no data for N
minutes" means the pipeline is broken (key revoked, wrong region, missing ServiceEntry, receiver
not started), never "nobody called". This was chosen over a metric-math alarm on an external
traffic metric (ELB/ALB ``RequestCount``) because it needs no metric the program does not own,
keeps ``treatMissingData: breaching`` meaningful, and works on any ingress in front of Istio;
its price is one API call a minute per gateway and one extra custom metric (see acpw/cost.py).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from acpw.config import AcpwConfig, GatewayConfig
from acpw.config.observability import DEFAULT_HEARTBEAT_HOST
from acpw.contract import DEFAULT_NAMES, ObjectNames, aws_tags
from acpw.cost import CostEstimate, estimate
from acpw.installers import installer_of

DIMENSIONS = ("host", "method", "path", "status")
"""The dimensions the receiver puts on every data point (MODULE.md)."""
PERIOD = 60
TOP_N = 10
SEARCH_MAX_CHARS = 1024
"""Longest search query CloudWatch accepts inside SEARCH('...')."""

STATUS_CLASSES: dict[str, tuple[int, ...]] = {
    "2xx": (200, 201, 202, 203, 204, 205, 206, 207, 208, 226),
    "3xx": (300, 301, 302, 303, 304, 305, 307, 308),
    "4xx": (
        *range(400, 418),
        421,
        422,
        423,
        424,
        425,
        426,
        428,
        429,
        431,
        451,
    ),
    "5xx": (500, 501, 502, 503, 504, 505, 506, 507, 508, 510, 511),
}
"""The IANA-registered codes of each class (exact matches: CloudWatch search has no prefix match)."""

CLASS_COLORS = {"2xx": "#2ca02c", "3xx": "#1f77b4", "4xx": "#ff7f0e", "5xx": "#d62728"}
HEARTBEAT_SCHEDULE = "* * * * *"
_AWS_NAME_RE = re.compile(r"[^A-Za-z0-9_-]")


def _schema_name(name: str) -> str:
    """A namespace in a search schema: quoted when it holds anything but letters and digits."""
    return name if name.isalnum() else f'"{name}"'


def search(namespace: str, metric_name: str, status_codes: tuple[int, ...] = ()) -> str:
    """``SEARCH`` over the full dimension schema, Sum per minute; optionally some status codes."""
    schema = "{" + ",".join([_schema_name(namespace), *DIMENSIONS]) + "}"
    query = f'{schema} MetricName="{metric_name}"'
    if status_codes:
        query += " (" + " OR ".join(f'status="{code}"' for code in status_codes) + ")"
    if len(query) > SEARCH_MAX_CHARS:
        raise ValueError(f"search query of {len(query)} characters: CloudWatch allows 1024")
    return f"SEARCH('{query}', 'Sum', {PERIOD})"


def insights_query(
    namespace: str,
    metric_name: str,
    status_codes: tuple[int, ...] = (),
    group_by: str | None = None,
    limit: int = TOP_N,
) -> str:
    """A Metrics Insights query summing the metric over every dimension combination."""
    query = f'SELECT SUM("{metric_name}") FROM SCHEMA("{namespace}", {", ".join(DIMENSIONS)})'
    if status_codes:
        query += " WHERE " + " OR ".join(f"status = '{code}'" for code in status_codes)
    if group_by:
        query += f" GROUP BY {group_by} ORDER BY SUM() DESC LIMIT {limit}"
    return query


def aws_name(*parts: str) -> str:
    """A name for dashboards, alarms, topics and budgets: letters, digits, ``-`` and ``_``."""
    return _AWS_NAME_RE.sub("-", "-".join(parts))[:255]


def dashboard_url(region: str, name: str) -> str:
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#dashboards/dashboard/{quote(name, safe='')}"
    )


def _metric_widget(
    x: int, y: int, width: int, title: str, region: str, metrics: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    properties = {
        "title": title,
        "view": "timeSeries",
        "region": region,
        "period": PERIOD,
        "stat": "Sum",
        "metrics": [[metric] for metric in metrics],
        "yAxis": {"left": {"min": 0, "showUnits": False}},
        **extra,
    }
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": properties}


def dashboard_body(
    *,
    namespace: str,
    metric_name: str,
    region: str,
    server_error_percent: float | None = None,
    alarm_names: tuple[str, ...] = (),
    heartbeat_host: str | None = None,
) -> dict[str, Any]:
    """The dashboard (``DashboardBody`` JSON as a dict): traffic, status classes, 5xx share, top-N."""
    total = {"expression": f"SUM({search(namespace, metric_name)})", "id": "total"}
    classes = [
        {
            "expression": f"SUM({search(namespace, metric_name, codes)})",
            "id": f"c{name}",
            "label": name,
            "color": CLASS_COLORS[name],
        }
        for name, codes in STATUS_CLASSES.items()
    ]
    listed = " + ".join(f"FILL(c{name}, 0)" for name in STATUS_CLASSES)
    notes = [
        f"# ACPW requests: `{namespace}` / `{metric_name}`",
        "Every request through an ACPW gateway is one data point (value 1) with the dimensions "
        "host, method, path and status. Periods are 1 minute; values are requests per minute.",
    ]
    if alarm_names:
        notes.append("Alarms: " + ", ".join(f"`{name}`" for name in alarm_names) + ".")
    if heartbeat_host:
        notes.append(
            f"The heartbeat (host `{heartbeat_host}`) adds one request a minute per gateway."
        )
    share_extra: dict[str, Any] = {"yAxis": {"left": {"min": 0, "max": 100, "showUnits": False}}}
    if server_error_percent is not None:
        share_extra["annotations"] = {
            "horizontal": [{"label": "alarm threshold", "value": server_error_percent}]
        }
    widgets = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {"markdown": "\n\n".join(notes)},
        },
        _metric_widget(
            0, 2, 12, "Requests per minute", region, [{**total, "label": "all requests"}]
        ),
        _metric_widget(
            12,
            2,
            12,
            "Requests per minute by status class",
            region,
            [
                {**total, "visible": False},
                *classes,
                {"expression": f"total - ({listed})", "id": "other", "label": "other codes"},
            ],
            stacked=True,
        ),
        _metric_widget(
            0,
            8,
            12,
            "5xx share of requests (%)",
            region,
            [
                {**total, "visible": False},
                {**classes[3], "visible": False},
                {
                    "expression": "100 * FILL(c5xx, 0) / total",
                    "id": "share",
                    "label": "5xx share (%)",
                    "color": CLASS_COLORS["5xx"],
                },
            ],
            **share_extra,
        ),
        _metric_widget(
            12,
            8,
            12,
            f"Top {TOP_N} hosts (requests per minute)",
            region,
            [
                {
                    "expression": insights_query(namespace, metric_name, group_by="host"),
                    "id": "hosts",
                    "label": "",
                }
            ],
            legend={"position": "right"},
        ),
        _metric_widget(
            0,
            14,
            24,
            f"Top {TOP_N} paths (requests per minute)",
            region,
            [
                {
                    "expression": insights_query(namespace, metric_name, group_by="path"),
                    "id": "paths",
                    "label": "",
                }
            ],
            legend={"position": "right"},
        ),
    ]
    return {"start": "-PT6H", "periodOverride": "inherit", "widgets": widgets}


def no_data_alarm_queries(namespace: str, metric_name: str) -> list[dict[str, Any]]:
    """One Metrics Insights query: all requests per minute (the heartbeat keeps it above 0)."""
    return [
        {
            "id": "requests",
            "expression": insights_query(namespace, metric_name),
            "period": PERIOD,
            "label": "requests per minute",
            "return_data": True,
        }
    ]


def server_error_alarm_queries(
    namespace: str, metric_name: str, min_requests: int
) -> list[dict[str, Any]]:
    """5xx share in percent; minutes with fewer than ``min_requests`` requests count as 0."""
    return [
        {
            "id": "errors",
            "expression": insights_query(namespace, metric_name, STATUS_CLASSES["5xx"]),
            "period": PERIOD,
            "label": "5xx per minute",
            "return_data": False,
        },
        {
            "id": "requests",
            "expression": insights_query(namespace, metric_name),
            "period": PERIOD,
            "label": "requests per minute",
            "return_data": False,
        },
        {
            "id": "share",
            "expression": f"IF(requests >= {min_requests}, 100 * FILL(errors, 0) / requests, 0)",
            "label": "5xx share (%)",
            "return_data": True,
        },
    ]


def heartbeat_host(config: AcpwConfig) -> str:
    """The heartbeat's ``Host``: configured, else the first counted host, else a reserved name."""
    configured = config.observability.heartbeat.host
    return configured or (config.match_hosts[0] if config.match_hosts else DEFAULT_HEARTBEAT_HOST)


def heartbeat_name(gateway: GatewayConfig, names: ObjectNames = DEFAULT_NAMES) -> str:
    """CronJob name (at most 52 characters, so that its Jobs' names fit)."""
    name = names.heartbeat(gateway.name)
    if len(name) <= 52:
        return name
    digest = hashlib.sha256(gateway.name.encode()).hexdigest()[:8]
    return f"{name[:43].rstrip('-')}-{digest}"


def heartbeat_cronjob_spec(config: AcpwConfig, gateway: GatewayConfig) -> dict[str, Any]:
    """One ``curl`` a minute through the gateway Service (named like its Deployment: istiod's
    ``<gateway>-istio`` for ``gatewayApi``)."""
    heartbeat = config.observability.heartbeat
    service = installer_of(config, gateway).deployment(gateway)
    url = f"http://{service}.{gateway.namespace}.svc.cluster.local:{heartbeat.port}{heartbeat.path}"
    # No sidecar: it would keep the Job's pod running. Any response (even a 404) is counted.
    no_sidecar = {"sidecar.istio.io/inject": "false"}
    return {
        "schedule": HEARTBEAT_SCHEDULE,
        "concurrencyPolicy": "Forbid",
        "startingDeadlineSeconds": 30,
        "successfulJobsHistoryLimit": 1,
        "failedJobsHistoryLimit": 1,
        "jobTemplate": {
            "spec": {
                "backoffLimit": 0,
                "activeDeadlineSeconds": 50,
                "ttlSecondsAfterFinished": 300,
                "template": {
                    "metadata": {
                        "labels": {**config.names.labels("heartbeat"), **no_sidecar},
                        "annotations": no_sidecar,
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": 65532,
                            "runAsGroup": 65532,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [
                            {
                                "name": "heartbeat",
                                "image": heartbeat.image,
                                "command": [
                                    "curl",
                                    "--silent",
                                    "--show-error",
                                    "--output",
                                    "/dev/null",
                                    "--max-time",
                                    "20",
                                    "--header",
                                    f"Host: {heartbeat_host(config)}",
                                    url,
                                ],
                                "securityContext": {
                                    "allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]},
                                },
                                "resources": {
                                    "limits": {"cpu": "100m", "memory": "64Mi"},
                                    "requests": {"cpu": "10m", "memory": "32Mi"},
                                },
                            }
                        ],
                    },
                },
            }
        },
    }


def budget_filters(account_id: str) -> list[dict[str, Any]]:
    """The budget counts only CloudWatch, and only this account."""
    return [
        {"name": "Service", "values": ["AmazonCloudWatch"]},
        {"name": "LinkedAccount", "values": [account_id]},
    ]


@dataclass(frozen=True)
class ObservabilityArgs:
    """Inputs of :class:`Observability`."""

    config: AcpwConfig
    """The validated stack configuration (``acpw:observability``, ``acpw:cost``, CloudWatch)."""
    name_prefix: str
    """Prefix of the AWS names (dashboard, alarms, topic, budget), e.g. ``acpw-dev``."""


class Observability(pulumi.ComponentResource):
    """Dashboard, no-data and 5xx-share alarms, their SNS topic, heartbeats, cost estimate, budget.

    AWS and Kubernetes providers are inherited from the parent (``providers=[...]``).
    """

    dashboard_name: str | None
    dashboard_url: str | None
    """Console link to the dashboard (None when ``acpw:observability.dashboard`` is false)."""
    topic_arn: pulumi.Output[str] | None
    """SNS topic the alarms (and the budget) notify."""
    alarm_names: list[str]
    cost: CostEstimate
    outputs: dict[str, Any]
    """Everything above as one stack output."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("acpw:observability:Observability", name, None, opts)
        config = args.config
        settings = config.observability
        namespace, metric = config.cloudwatch.namespace, config.cloudwatch.metric_name
        prefix = aws_name(args.name_prefix)

        self.cost = estimate(config)
        pulumi.log.info(self.cost.summary(), resource=self)
        warning = self.cost.budget_warning()
        if warning:
            pulumi.log.warn(warning, resource=self)

        self.topic_arn = None
        topic: aws.sns.Topic | None = None
        if settings.topic_arn is not None:
            self.topic_arn = pulumi.Output.from_input(settings.topic_arn)
        elif settings.alarms:
            # Not KMS-encrypted: CloudWatch alarms cannot publish to a topic encrypted with the
            # AWS-managed SNS key, and alarm notifications carry no secrets.
            topic = aws.sns.Topic(
                f"{name}-alarms",
                name=aws_name(prefix, "alarms"),
                tags=aws_tags(config.iam.tags, "aws-cloudwatch-proxy-wasm alarms"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.topic_arn = topic.arn

        self.alarm_names = []
        actions = [self.topic_arn] if self.topic_arn is not None else []
        if settings.no_data_alarm:
            alarm_name = aws_name(prefix, "no-data")
            aws.cloudwatch.MetricAlarm(
                f"{name}-no-data",
                name=alarm_name,
                alarm_description=(
                    f"No {metric} data point in {namespace} for {settings.no_data_minutes} "
                    "minutes although the heartbeat sends one request a minute per gateway: the "
                    "receiver's PutMetricData calls fail or never happen. Check the access key "
                    "(revoked or rotated without a gateway restart), the region, the ServiceEntry "
                    "for monitoring.<region>.amazonaws.com, and whether the receiver started."
                ),
                comparison_operator="LessThanThreshold",
                threshold=1,
                evaluation_periods=settings.no_data_minutes,
                datapoints_to_alarm=settings.no_data_minutes,
                treat_missing_data="breaching",
                metric_queries=no_data_alarm_queries(namespace, metric),
                alarm_actions=actions,
                ok_actions=actions,
                tags=aws_tags(config.iam.tags, "aws-cloudwatch-proxy-wasm alarm"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.alarm_names.append(alarm_name)
        if settings.server_error_alarm:
            alarm_name = aws_name(prefix, "5xx-share")
            aws.cloudwatch.MetricAlarm(
                f"{name}-5xx-share",
                name=alarm_name,
                alarm_description=(
                    f"More than {settings.server_error_percent}% of the requests through the ACPW "
                    f"gateways answered 5xx for {settings.server_error_minutes} minutes (minutes "
                    f"with fewer than {settings.server_error_min_requests} requests do not count). "
                    "See the dashboard's top hosts and paths for where."
                ),
                comparison_operator="GreaterThanThreshold",
                threshold=settings.server_error_percent,
                evaluation_periods=settings.server_error_minutes,
                datapoints_to_alarm=settings.server_error_minutes,
                # No traffic is no error; missing data is the no-data alarm's business.
                treat_missing_data="notBreaching",
                metric_queries=server_error_alarm_queries(
                    namespace, metric, settings.server_error_min_requests
                ),
                alarm_actions=actions,
                ok_actions=actions,
                tags=aws_tags(config.iam.tags, "aws-cloudwatch-proxy-wasm alarm"),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.alarm_names.append(alarm_name)

        self.dashboard_name = None
        self.dashboard_url = None
        if settings.dashboard:
            self.dashboard_name = aws_name(prefix)
            body = dashboard_body(
                namespace=namespace,
                metric_name=metric,
                region=config.region,
                server_error_percent=(
                    settings.server_error_percent if settings.server_error_alarm else None
                ),
                alarm_names=tuple(self.alarm_names),
                heartbeat_host=heartbeat_host(config) if settings.heartbeat.enabled else None,
            )
            aws.cloudwatch.Dashboard(
                f"{name}-dashboard",
                dashboard_name=self.dashboard_name,
                dashboard_body=json.dumps(body, sort_keys=True),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.dashboard_url = dashboard_url(config.region, self.dashboard_name)

        if settings.heartbeat.enabled:
            for gateway in config.gateways:
                k8s.batch.v1.CronJob(
                    f"{name}-heartbeat-{gateway.namespace}-{gateway.name}",
                    metadata={
                        "name": heartbeat_name(gateway, config.names),
                        "namespace": gateway.namespace,
                        "labels": config.names.labels("heartbeat"),
                    },
                    spec=heartbeat_cronjob_spec(config, gateway),
                    opts=pulumi.ResourceOptions(parent=self),
                )

        if config.cost.create_budget:
            self._budget(name, prefix, config, topic)

        self.outputs = {
            "dashboardName": self.dashboard_name,
            "dashboardUrl": self.dashboard_url,
            "alarmTopicArn": self.topic_arn,
            "alarms": self.alarm_names,
            "costEstimate": self.cost.as_output(),
        }
        self.register_outputs(self.outputs)

    def _budget(
        self, name: str, prefix: str, config: AcpwConfig, topic: aws.sns.Topic | None
    ) -> None:
        cost = config.cost
        assert cost.monthly_budget_usd is not None  # checked by the config
        depends: list[pulumi.Resource] = []
        if topic is not None:
            # AWS Budgets may publish to the topic the program created; a topic given by ARN
            # needs the same statement in its own policy.
            depends.append(
                aws.sns.TopicPolicy(
                    f"{name}-alarms-budgets",
                    arn=topic.arn,
                    policy=topic.arn.apply(
                        lambda arn: json.dumps(
                            {
                                "Version": "2012-10-17",
                                "Statement": [
                                    {
                                        "Sid": "AwsBudgetsPublish",
                                        "Effect": "Allow",
                                        "Principal": {"Service": "budgets.amazonaws.com"},
                                        "Action": "SNS:Publish",
                                        "Resource": arn,
                                    }
                                ],
                            },
                            sort_keys=True,
                        )
                    ),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        topics = [self.topic_arn] if self.topic_arn is not None else []
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        notifications = [
            {
                "comparison_operator": "GREATER_THAN",
                "threshold": 100,
                "threshold_type": "PERCENTAGE",
                "notification_type": kind,
                "subscriber_sns_topic_arns": topics,
                "subscriber_email_addresses": list(cost.budget_emails),
            }
            for kind in ("FORECASTED", "ACTUAL")
        ]
        aws.budgets.Budget(
            f"{name}-budget",
            name=aws_name(prefix, "cloudwatch"),
            budget_type="COST",
            limit_amount=f"{cost.monthly_budget_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            cost_filters=account.account_id.apply(budget_filters),
            notifications=notifications,
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends),
        )
