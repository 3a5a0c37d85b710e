"""The monthly CloudWatch bill of this stack, estimated from ``acpw:cost``, and its price table.

What the v0.1.0 modules cost (see MODULE.md): every request through a gateway is one
``PutMetricData`` call, and every distinct (host, method, path, status) is a custom metric
billed per metric-month. On top come the dashboard and the alarms of ``acpw:observability``;
the alarms query Metrics Insights, which is billed per metric the query analyzes.

    api calls     = requestsPerSecond × 2,628,000 s (730 h) + heartbeats (43,800 per gateway)
    metrics       = hosts × methods × paths × statuses (0 without traffic) (+ 1 for the heartbeat)
    alarm metrics = min(metrics, 10,000) per Metrics Insights query (no-data: 1, 5xx share: 2)
    monthly       = api calls / 1,000 × API price + tiered metric price
                    + dashboards × dashboard price + alarm metrics × alarm price

With ``acpw:receiver.module: batching`` (receiver/batching.c) a call carries a whole flush:

    per pod       = one flush every flushSeconds: ceil(series per flush / 1,000) calls
    series        = min(hosts × methods × paths × statuses, maxSeries) (+ 1 overflow series
                    when there are more); the path without its query string
    api calls     = min(per-request calls, pods × 2,628,000 / flushSeconds × batches)

(1,000 metric data per call: AWS's PutMetricData API reference; a call whose 1 MB would be
exceeded first is split further, which a series of under 1 KB of dimensions never needs at
1,000.) The estimate shows the per-request count beside it, what the published receiver makes.

The free tier (1 M API requests, 10 metrics, 3 dashboards, 10 alarm metrics per account) is
not deducted: it is shared with everything else in the account.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from acpw.config import AcpwConfig

PRICE_SOURCE = "https://aws.amazon.com/cloudwatch/pricing/"
PRICES_RECORDED = "2026-12-02"
"""When the table below was written down. The price list cannot be fetched from the machine
this was written on (no AWS Price List API access): the values are the published on-demand
prices of the pricing page's Metrics, Dashboards and Alarms tabs as known on that date, for
US East (N. Virginia). Asia Pacific (Tokyo), the only region the v0.1.0 modules can call, is
listed with the same values: check the page for your region before relying on a cent."""

HOURS_PER_MONTH = 730
"""AWS bills metrics per hour and quotes monthly prices for 730 hours."""
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600
HEARTBEATS_PER_MONTH_PER_GATEWAY = HOURS_PER_MONTH * 60
PUT_METRIC_DATA_MAX_DATA = 1000
"""Metric data per PutMetricData call (AWS CloudWatch API Reference, PutMetricData: "no more
than 1000 different metrics" per request, and at most 1 MB for HTTP POST)."""
METRICS_INSIGHTS_MAX_METRICS = 10_000
"""A Metrics Insights query processes at most this many metrics (and is billed for as many)."""


@dataclass(frozen=True)
class CloudWatchPrices:
    """On-demand CloudWatch prices of one region, in USD."""

    api_per_1000_requests: Decimal
    """``PutMetricData`` (and other metric API) requests, per 1,000."""
    metric_tiers: tuple[tuple[int | None, Decimal], ...]
    """Custom metrics: (metrics in this tier, or None for the rest; price per metric-month)."""
    dashboard_month: Decimal
    """Per custom dashboard per month."""
    alarm_metric_month: Decimal
    """Standard-resolution alarm, per alarm metric per month (Metrics Insights: per metric analyzed)."""


_PUBLISHED = CloudWatchPrices(
    api_per_1000_requests=Decimal("0.01"),
    metric_tiers=(
        (10_000, Decimal("0.30")),  # first 10,000 metrics
        (240_000, Decimal("0.10")),  # next 240,000
        (750_000, Decimal("0.05")),  # next 750,000
        (None, Decimal("0.02")),  # over 1,000,000
    ),
    dashboard_month=Decimal("3.00"),
    alarm_metric_month=Decimal("0.10"),
)

PRICES: dict[str, CloudWatchPrices] = {
    "us-east-1": _PUBLISHED,
    "ap-northeast-1": _PUBLISHED,
}
"""THE price table (source :data:`PRICE_SOURCE`, recorded :data:`PRICES_RECORDED`)."""
FALLBACK_REGION = "us-east-1"

CENT = Decimal("0.01")


def usd(amount: Decimal) -> str:
    """``1234.5`` -> ``$1,234.50`` (half-up to the cent)."""
    return f"${amount.quantize(CENT, rounding=ROUND_HALF_UP):,}"


def metric_months_cost(metrics: int, prices: CloudWatchPrices) -> Decimal:
    """Tiered price of ``metrics`` custom metrics present all month."""
    left, total = metrics, Decimal(0)
    for size, price in prices.metric_tiers:
        used = left if size is None else min(left, size)
        total += used * price
        left -= used
        if left == 0:
            break
    return total


@dataclass(frozen=True)
class CostEstimate:
    """One month of this stack's CloudWatch usage and its price."""

    region: str
    prices_region: str
    api_calls: Decimal
    api_usd: Decimal
    metrics: int
    metrics_usd: Decimal
    dashboards: int
    dashboards_usd: Decimal
    alarm_metrics: int
    alarms_usd: Decimal
    budget_usd: Decimal | None
    receiver_module: str = "published"
    per_request_api_calls: Decimal | None = None
    """``batching``: the calls the published receiver would make (one per request)."""

    @property
    def total_usd(self) -> Decimal:
        return self.api_usd + self.metrics_usd + self.dashboards_usd + self.alarms_usd

    @property
    def over_budget(self) -> bool:
        """True when the estimate reaches the budget (at the threshold counts)."""
        return self.budget_usd is not None and self.total_usd >= self.budget_usd

    def summary(self) -> str:
        """The preview line: deterministic, one line."""
        prices = (
            f"{self.prices_region} prices"
            if self.prices_region == self.region
            else f"no price table for {self.region}: {self.prices_region} prices"
        )
        batching = ""
        if self.per_request_api_calls is not None:
            batching = f" (batching receiver; one per request: {self.per_request_api_calls:,.0f})"
        return (
            f"acpw:cost: estimated CloudWatch bill {usd(self.total_usd)}/month: "
            f"{self.api_calls:,.0f} PutMetricData calls{batching} {usd(self.api_usd)}, "
            f"{_count(self.metrics, 'custom metric')} {usd(self.metrics_usd)}, "
            f"{_count(self.dashboards, 'dashboard')} {usd(self.dashboards_usd)}, "
            f"{_count(self.alarm_metrics, 'alarm metric')} {usd(self.alarms_usd)} "
            f"({prices} recorded {PRICES_RECORDED} from {PRICE_SOURCE}; free tier not deducted)"
        )

    def budget_warning(self) -> str | None:
        """The over-budget warning naming the levers, or None below the budget."""
        if not self.over_budget:
            return None
        assert self.budget_usd is not None
        if self.per_request_api_calls is not None:
            return (
                f"acpw:cost.monthlyBudgetUsd: the estimated CloudWatch bill "
                f"{usd(self.total_usd)}/month reaches the budget of {usd(self.budget_usd)}/month. "
                "With the batching receiver each pod sends one batch per flush and every "
                "distinct host×method×path×status (up to receiver.maxSeries) is a custom metric. "
                "Levers: acpw:receiver.maxSeries, acpw:receiver.flushSeconds, acpw:matchHosts, "
                "or switch off acpw:observability alarms (billed per metric their queries analyze)"
            )
        return (
            f"acpw:cost.monthlyBudgetUsd: the estimated CloudWatch bill {usd(self.total_usd)}/month "
            f"reaches the budget of {usd(self.budget_usd)}/month. Every request is one "
            "PutMetricData call and every distinct host×method×path×status a custom metric. "
            "Levers: acpw:matchHosts (count only the hosts you need), paths with query strings "
            "(the path dimension is the raw :path: each distinct query string is a new metric, so "
            "keep them off counted hosts), fewer counted requests (requestsPerSecond), or switch "
            "off acpw:observability alarms (billed per metric their queries analyze)"
        )

    def as_output(self) -> dict[str, str]:
        """Stack output: amounts as strings, so that the render stays exact."""
        output = {
            "monthlyUsd": usd(self.total_usd),
            "putMetricDataCalls": f"{self.api_calls:,.0f}",
            "putMetricDataUsd": usd(self.api_usd),
            "customMetrics": f"{self.metrics:,}",
            "customMetricsUsd": usd(self.metrics_usd),
            "dashboardsUsd": usd(self.dashboards_usd),
            "alarmMetrics": f"{self.alarm_metrics:,}",
            "alarmsUsd": usd(self.alarms_usd),
            "prices": f"{self.prices_region}, recorded {PRICES_RECORDED}, {PRICE_SOURCE}",
        }
        if self.budget_usd is not None:
            output["budgetUsd"] = usd(self.budget_usd)
        if self.per_request_api_calls is not None:
            output["receiverModule"] = self.receiver_module
            output["putMetricDataCallsPerRequest"] = f"{self.per_request_api_calls:,.0f}"
        return output


def estimate(config: AcpwConfig) -> CostEstimate:
    """The monthly estimate of ``config`` (see the module docstring for the formula)."""
    cost, observability = config.cost, config.observability
    prices_region = config.region if config.region in PRICES else FALLBACK_REGION
    prices = PRICES[prices_region]

    hosts = cost.hosts or len(config.match_hosts) or 1
    # Without traffic no combination is ever published (and billed).
    combinations = hosts * cost.methods * cost.paths * cost.statuses
    metrics = combinations if cost.requests_per_second else 0
    api_calls = cost.requests_per_second * SECONDS_PER_MONTH
    if observability.heartbeat.enabled:
        # The heartbeats of all gateways share one (host, GET, path, status) combination.
        metrics += 1
        api_calls += HEARTBEATS_PER_MONTH_PER_GATEWAY * len(config.gateways)
    per_request_calls: Decimal | None = None
    if config.receiver.module == "batching":
        per_request_calls = Decimal(api_calls)
        api_calls, metrics = _batching(config, per_request_calls, combinations)

    queries = (1 if observability.no_data_alarm else 0) + (
        2 if observability.server_error_alarm else 0
    )
    alarm_metrics = queries * min(metrics, METRICS_INSIGHTS_MAX_METRICS)
    dashboards = 1 if observability.dashboard else 0
    return CostEstimate(
        region=config.region,
        prices_region=prices_region,
        api_calls=api_calls,
        api_usd=api_calls / 1000 * prices.api_per_1000_requests,
        metrics=metrics,
        metrics_usd=metric_months_cost(metrics, prices),
        dashboards=dashboards,
        dashboards_usd=dashboards * prices.dashboard_month,
        alarm_metrics=alarm_metrics,
        alarms_usd=alarm_metrics * prices.alarm_metric_month,
        budget_usd=cost.monthly_budget_usd,
        receiver_module=config.receiver.module,
        per_request_api_calls=per_request_calls,
    )


def _batching(
    config: AcpwConfig, per_request_calls: Decimal, combinations: int
) -> tuple[Decimal, int]:
    """(calls, metrics) of the batching receiver: one batch per pod and flush."""
    cost, receiver = config.cost, config.receiver
    if per_request_calls == 0:
        return Decimal(0), 0
    heartbeat = 1 if config.observability.heartbeat.enabled else 0
    # The series a flush can hold; beyond maxSeries one overflow series takes the rest.
    wanted = (combinations if cost.requests_per_second else 0) + heartbeat
    series = min(wanted, receiver.max_series) + (1 if wanted > receiver.max_series else 0)
    batches = math.ceil(series / PUT_METRIC_DATA_MAX_DATA)
    pods = cost.gateway_pods or len(config.enabled_gateways) or 1
    flushes = Decimal(SECONDS_PER_MONTH) / receiver.flush_seconds
    calls = min(per_request_calls, pods * flushes * batches)
    return calls.to_integral_value(rounding=ROUND_HALF_UP), series


def _count(number: int, noun: str) -> str:
    """``1 custom metric``, ``2 custom metrics``, ``1,000 custom metrics``."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
