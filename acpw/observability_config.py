"""The ``acpw:observability`` and ``acpw:cost`` configuration: typed models and their checks.

Kept apart from ``acpw.config`` (which only declares the two fields) and free of any import
from it, so that ``acpw.config`` can import these models without a cycle. Every check runs
inside :func:`acpw.config.load_config`, before any resource is registered; problems come out
as ``acpw:observability.<key>: ...`` / ``acpw:cost.<key>: ...`` lines of its ``ConfigError``.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from acpw.config.errors import ConfigProblem, cross_field_error
from acpw.contract import AWS_CLI_IMAGE

_SNS_TOPIC_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_HOST_RE = re.compile(
    r"^(?=.{1,253}(:\d{1,5})?$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(:\d{1,5})?$"
)
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")
_IMAGE_RE = re.compile(
    r"^[a-z0-9]+([._-][a-z0-9]+)*(\.[a-z0-9]+([._-][a-z0-9]+)*)*(:\d+)?(/[a-z0-9]+([._-]{1,2}[a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$"
)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_QUOTES = ('"', "'", "\\")

METRICS_INSIGHTS_EVALUATION_MINUTES = 180
"""Alarms on Metrics Insights queries evaluate only the latest 3 hours of data."""

DEFAULT_HEARTBEAT_HOST = "acpw-heartbeat.invalid"
"""Heartbeat ``Host`` when ``acpw:matchHosts`` is empty (every host is counted then)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)


class HeartbeatConfig(_Model):
    """``acpw:observability.heartbeat``: one request a minute through each gateway.

    It makes "no data" mean "the metrics pipeline is broken", never "nobody called".
    """

    enabled: bool = Field(True, strict=True)
    host: str | None = None
    """``Host`` of the request; must be counted: defaults to the first of ``acpw:matchHosts``."""
    path: str = "/acpw-heartbeat"
    """Path of the request (no query string: each distinct path is a billed metric)."""
    port: int = Field(80, strict=True, ge=1, le=65535)
    """Port of the gateway Service (named like the gateway's Deployment)."""
    image: str = AWS_CLI_IMAGE
    """Image providing ``curl`` (the AWS CLI image the project already uses has it), by digest."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not _HOST_RE.match(value):
            raise ValueError(
                f"'{value}' is not an exact :authority value (lowercase hostname, optional :port)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH_RE.match(value):
            raise ValueError(
                f"'{value}' must start with '/' and hold only letters, digits and . _ ~ / - "
                "(no query string: every distinct path is a separately billed metric)"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _IMAGE_RE.match(value):
            raise ValueError(f"'{value}' is not an image reference like registry/repository:tag")
        return value


class ObservabilityConfig(_Model):
    """``acpw:observability``: dashboard, alarms and their SNS topic; each part can be switched off."""

    dashboard: bool = Field(True, strict=True)
    """Create the CloudWatch dashboard."""
    no_data_alarm: bool = Field(True, alias="noDataAlarm", strict=True)
    """Alarm when the namespace receives no data point for ``noDataMinutes``."""
    no_data_minutes: int = Field(10, alias="noDataMinutes", strict=True)
    server_error_alarm: bool = Field(True, alias="serverErrorAlarm", strict=True)
    """Alarm when the share of 5xx responses is over ``serverErrorPercent``."""
    server_error_percent: float = Field(5.0, alias="serverErrorPercent", strict=False)
    server_error_minutes: int = Field(5, alias="serverErrorMinutes", strict=True)
    """Consecutive minutes over the threshold before the alarm fires."""
    server_error_min_requests: int = Field(20, alias="serverErrorMinRequests", strict=True, ge=0)
    """Minutes with fewer requests than this never count as over the threshold (1 of 2 is 50%)."""
    topic_arn: str | None = Field(None, alias="topicArn")
    """SNS topic the alarms notify; unset: the program creates one (subscriptions are yours)."""
    heartbeat: HeartbeatConfig = Field(default_factory=lambda: HeartbeatConfig.model_validate({}))

    @field_validator("no_data_minutes")
    @classmethod
    def _no_data_minutes(cls, value: int) -> int:
        if not 3 <= value <= METRICS_INSIGHTS_EVALUATION_MINUTES:
            raise ValueError(
                f"{value} is out of range: allowed 3 to {METRICS_INSIGHTS_EVALUATION_MINUTES} "
                "(the heartbeat runs once a minute and may miss one; alarms on Metrics Insights "
                "queries see only the latest 3 hours)"
            )
        return value

    @field_validator("server_error_minutes")
    @classmethod
    def _server_error_minutes(cls, value: int) -> int:
        if not 1 <= value <= METRICS_INSIGHTS_EVALUATION_MINUTES:
            raise ValueError(
                f"{value} is out of range: allowed 1 to {METRICS_INSIGHTS_EVALUATION_MINUTES} (minutes)"
            )
        return value

    @field_validator("server_error_percent", mode="before")
    @classmethod
    def _server_error_percent(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} must be a number of percent, e.g. 5 or 0.5")
        if not 0 < value < 100:
            raise ValueError(f"{value} is out of range: allowed more than 0 and less than 100")
        return value

    @field_validator("topic_arn")
    @classmethod
    def _topic_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SNS_TOPIC_ARN_RE.match(value):
            raise ValueError(
                f"'{value}' is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
            )
        return value

    @property
    def alarms(self) -> bool:
        return self.no_data_alarm or self.server_error_alarm

    @property
    def creates_topic(self) -> bool:
        return self.topic_arn is None and self.alarms


class CostConfig(_Model):
    """``acpw:cost``: expected traffic and cardinality, for the monthly CloudWatch estimate."""

    requests_per_second: Decimal = Field(Decimal(0), alias="requestsPerSecond")
    """Average requests per second over all gateways (each one is a PutMetricData call)."""
    hosts: int | None = Field(None, strict=True, ge=1)
    """Distinct counted hosts; default: the number of ``acpw:matchHosts``, or 1."""
    methods: int = Field(1, strict=True, ge=1, le=100)
    paths: int = Field(1, strict=True, ge=1)
    """Distinct raw paths including query strings (each distinct value is a new metric)."""
    statuses: int = Field(1, strict=True, ge=1, le=500)
    monthly_budget_usd: Decimal | None = Field(None, alias="monthlyBudgetUsd")
    """Warn when the estimate reaches this; with ``createBudget`` also the AWS Budget's limit."""
    create_budget: bool = Field(False, alias="createBudget", strict=True)
    """Create an AWS Budget on the account's CloudWatch spend, notifying the alarm topic."""
    budget_emails: list[str] = Field(default_factory=list, alias="budgetEmails")
    """Extra e-mail subscribers of the budget's notifications."""

    @field_validator("requests_per_second", "monthly_budget_usd", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{value!r} must be a number (not a string)")
        if value < 0:
            raise ValueError(f"{value} must not be negative")
        # Through str, so that 0.1 stays 0.1 and the arithmetic stays exact.
        return Decimal(str(value))

    @field_validator("monthly_budget_usd")
    @classmethod
    def _budget(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and value <= 0:
            raise ValueError(f"{value} must be more than 0 (USD per month)")
        return value

    @field_validator("budget_emails")
    @classmethod
    def _emails(cls, value: list[str]) -> list[str]:
        for email in value:
            if not _EMAIL_RE.match(email):
                raise ValueError(f"'{email}' is not an e-mail address")
        return value


def _problems(problems: list[tuple[str, str]]) -> None:
    """Raise the cross-field problems, each under its own key (acpw/config/errors.py)."""
    if problems:
        raise cross_field_error(
            ConfigProblem(key, message, absolute=True) for key, message in problems
        )


def _observability_against_stack(
    value: ObservabilityConfig, info: ValidationInfo
) -> ObservabilityConfig:
    problems: list[tuple[str, str]] = []
    cloudwatch = info.data.get("cloudwatch")
    metric_name = getattr(cloudwatch, "metric_name", "")
    if any(q in metric_name for q in _QUOTES) and (value.dashboard or value.alarms):
        problems.append(
            (
                "cloudwatch.metricName",
                f"'{metric_name}' holds a quote or backslash, which the dashboard's search "
                "expressions and the alarms' Metrics Insights queries cannot quote: rename the "
                "metric or set acpw:observability.dashboard, noDataAlarm and serverErrorAlarm to false",
            )
        )
    match_hosts: list[str] = info.data.get("match_hosts") or []
    heartbeat = value.heartbeat
    if heartbeat.enabled and heartbeat.host and match_hosts and heartbeat.host not in match_hosts:
        problems.append(
            (
                "observability.heartbeat.host",
                f"'{heartbeat.host}' is not in acpw:matchHosts, so the sender would not count the "
                "heartbeat: use one of " + ", ".join(match_hosts),
            )
        )
    if value.no_data_alarm and not heartbeat.enabled:
        problems.append(
            (
                "observability.noDataAlarm",
                "needs acpw:observability.heartbeat.enabled: true; without the heartbeat an idle "
                "gateway sends no data and the alarm would fire for it. Set noDataAlarm: false "
                "to run without either",
            )
        )
    _problems(problems)
    return value


def _cost_against_stack(value: CostConfig, info: ValidationInfo) -> CostConfig:
    problems: list[tuple[str, str]] = []
    match_hosts: list[str] = info.data.get("match_hosts") or []
    if value.hosts is not None and match_hosts and value.hosts > len(match_hosts):
        problems.append(
            (
                "cost.hosts",
                f"{value.hosts} is more than the {len(match_hosts)} hosts of acpw:matchHosts, the "
                "only ones the sender counts",
            )
        )
    observability: ObservabilityConfig | None = info.data.get("observability")
    if value.create_budget:
        if value.monthly_budget_usd is None:
            problems.append(
                ("cost.createBudget", "needs acpw:cost.monthlyBudgetUsd (the budget's limit)")
            )
        has_topic = observability is not None and (
            observability.topic_arn is not None or observability.alarms
        )
        if not has_topic and not value.budget_emails:
            problems.append(
                (
                    "cost.createBudget",
                    "the budget needs someone to notify: set acpw:cost.budgetEmails, or "
                    "acpw:observability.topicArn, or keep an alarm on (its topic is used)",
                )
            )
    _problems(problems)
    return value


ObservabilityField = Annotated[ObservabilityConfig, AfterValidator(_observability_against_stack)]
"""The ``AcpwConfig.observability`` type: checked against ``cloudwatch`` and ``matchHosts``."""

CostField = Annotated[CostConfig, AfterValidator(_cost_against_stack)]
"""The ``AcpwConfig.cost`` type: checked against ``matchHosts`` and ``observability``."""
