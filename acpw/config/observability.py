"""``acpw:observability`` and ``acpw:cost``: the dashboard, alarms, heartbeat and cost estimate.

Per-field rules only, like every config model; what they must agree on with the rest of the
stack (``matchHosts``, ``cloudwatch.metricName``, each other) is checked in
:mod:`acpw.config.checks`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from pydantic import Field, field_validator

from acpw.config.base import ConfigModel, allowed
from acpw.config.errors import shown
from acpw.config.formats import HOST_RE, IMAGE_REF_RE
from acpw.contract import AWS_CLI_IMAGE

_SNS_TOPIC_ARN_RE = re.compile(r"^arn:aws(-[a-z]+)*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
_PATH_RE = re.compile(r"^/[A-Za-z0-9._~/-]{0,200}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

METRICS_INSIGHTS_EVALUATION_MINUTES = 180
"""Alarms on Metrics Insights queries evaluate only the latest 3 hours of data."""

DEFAULT_HEARTBEAT_HOST = "acpw-heartbeat.invalid"
"""Heartbeat ``Host`` when ``acpw:matchHosts`` is empty (every host is counted then)."""


class HeartbeatConfig(ConfigModel):
    """``acpw:observability.heartbeat``: one request a minute through each gateway.

    It makes "no data" mean "the metrics pipeline is broken", never "nobody called".
    """

    enabled: bool = Field(True, strict=True)
    """Run the heartbeat CronJobs (the no-data alarm needs them)."""
    host: str | None = Field(
        None, json_schema_extra=allowed("a lowercase hostname, optional :port")
    )
    """``Host`` of the request; must be counted. Unset: the first of ``matchHosts``."""
    path: str = Field(
        "/acpw-heartbeat", json_schema_extra=allowed("/ and letters, digits, . _ ~ / -")
    )
    """Path of the request (no query string: each distinct path is a billed metric)."""
    port: int = Field(80, strict=True, ge=1, le=65535)
    """Port of the gateway Service (named like the gateway's Deployment)."""
    image: str = Field(AWS_CLI_IMAGE, json_schema_extra=allowed("an image reference"))
    """Image providing ``curl`` (the AWS CLI image, which the project already uses, has it)."""

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None and not HOST_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an exact :authority value (lowercase hostname, optional :port)"
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not _PATH_RE.match(value):
            raise ValueError(
                f"{shown(value)} must start with '/' and hold only letters, digits and . _ ~ / - "
                "(no query string: every distinct path is a separately billed metric)"
            )
        return value

    @field_validator("image")
    @classmethod
    def _image(cls, value: str) -> str:
        if not IMAGE_REF_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an image reference like registry/repository:tag"
            )
        return value


class ObservabilityConfig(ConfigModel):
    """``acpw:observability``: dashboard, alarms and their SNS topic; each part can be switched off."""

    dashboard: bool = Field(True, strict=True)
    """Create the CloudWatch dashboard."""
    no_data_alarm: bool = Field(True, strict=True)
    """Alarm when the namespace receives no data point for ``noDataMinutes``."""
    no_data_minutes: int = Field(
        10,
        strict=True,
        json_schema_extra=allowed(f"3 to {METRICS_INSIGHTS_EVALUATION_MINUTES}"),
    )
    """Minutes without a data point before the no-data alarm fires."""
    server_error_alarm: bool = Field(True, strict=True)
    """Alarm when the share of 5xx responses is over ``serverErrorPercent``."""
    server_error_percent: float = Field(
        5.0, strict=False, json_schema_extra=allowed("more than 0, less than 100")
    )
    """Share of 5xx responses, in percent, over which a minute counts against the 5xx alarm."""
    server_error_minutes: int = Field(
        5,
        strict=True,
        json_schema_extra=allowed(f"1 to {METRICS_INSIGHTS_EVALUATION_MINUTES}"),
    )
    """Consecutive minutes over the threshold before the alarm fires."""
    server_error_min_requests: int = Field(20, strict=True, ge=0)
    """Minutes with fewer requests than this never count as over the threshold (1 of 2 is 50%)."""
    topic_arn: str | None = Field(
        None, json_schema_extra=allowed("arn:aws:sns:<region>:<account>:<name>")
    )
    """SNS topic the alarms notify; unset: the program creates one (subscriptions are yours)."""
    heartbeat: HeartbeatConfig = Field(default_factory=lambda: HeartbeatConfig.model_validate({}))
    """The heartbeat: one request a minute through each gateway."""

    @field_validator("no_data_minutes")
    @classmethod
    def _no_data_minutes(cls, value: int) -> int:
        if not 3 <= value <= METRICS_INSIGHTS_EVALUATION_MINUTES:
            raise ValueError(
                f"{shown(value)} is out of range: allowed 3 to {METRICS_INSIGHTS_EVALUATION_MINUTES} "
                "(the heartbeat runs once a minute and may miss one; alarms on Metrics Insights "
                "queries see only the latest 3 hours)"
            )
        return value

    @field_validator("server_error_minutes")
    @classmethod
    def _server_error_minutes(cls, value: int) -> int:
        if not 1 <= value <= METRICS_INSIGHTS_EVALUATION_MINUTES:
            raise ValueError(
                f"{shown(value)} is out of range: allowed 1 to "
                f"{METRICS_INSIGHTS_EVALUATION_MINUTES} (minutes)"
            )
        return value

    @field_validator("server_error_percent", mode="before")
    @classmethod
    def _server_error_percent(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{shown(value)} must be a number of percent, e.g. 5 or 0.5")
        if not 0 < value < 100:
            raise ValueError(
                f"{shown(value)} is out of range: allowed more than 0 and less than 100"
            )
        return value

    @field_validator("topic_arn")
    @classmethod
    def _topic_arn(cls, value: str | None) -> str | None:
        if value is not None and not _SNS_TOPIC_ARN_RE.match(value):
            raise ValueError(
                f"{shown(value)} is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)"
            )
        return value

    @property
    def alarms(self) -> bool:
        return self.no_data_alarm or self.server_error_alarm

    @property
    def creates_topic(self) -> bool:
        return self.topic_arn is None and self.alarms


class CostConfig(ConfigModel):
    """``acpw:cost``: expected traffic and cardinality, for the monthly CloudWatch estimate."""

    requests_per_second: Decimal = Field(Decimal(0), json_schema_extra=allowed("0 or more"))
    """Average requests per second over all gateways (each one is a PutMetricData call)."""
    hosts: int | None = Field(None, strict=True, ge=1)
    """Distinct counted hosts; unset: the number of ``matchHosts``, or 1."""
    methods: int = Field(1, strict=True, ge=1, le=100)
    """Distinct HTTP methods."""
    paths: int = Field(1, strict=True, ge=1)
    """Distinct raw paths including query strings (each distinct value is a new metric)."""
    statuses: int = Field(1, strict=True, ge=1, le=500)
    """Distinct HTTP response statuses."""
    gateway_pods: int | None = Field(None, strict=True, ge=1)
    """Gateway pods over all gateways (``receiver.module: batching``: each pod's receiver sends
    its own calls every flush); unset: one per enabled gateway."""
    monthly_budget_usd: Decimal | None = Field(None, json_schema_extra=allowed("more than 0"))
    """Warn when the estimate reaches this; with ``createBudget`` also the AWS Budget's limit."""
    create_budget: bool = Field(False, strict=True)
    """Create an AWS Budget on the account's CloudWatch spend, notifying the alarm topic."""
    budget_emails: list[str] = Field(
        default_factory=list, json_schema_extra=allowed("e-mail addresses")
    )
    """Extra e-mail subscribers of the budget's notifications."""

    @field_validator("requests_per_second", "monthly_budget_usd", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{shown(value)} must be a number (not a string)")
        if value < 0:
            raise ValueError(f"{shown(value)} must not be negative")
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
                raise ValueError(f"{shown(email)} is not an e-mail address")
        return value
