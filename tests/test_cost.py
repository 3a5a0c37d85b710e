"""The monthly CloudWatch estimate (acpw/cost.py): arithmetic, worked examples, budget warning."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from acpw.config import AcpwConfig, ConfigError, load_config
from acpw.cost import (
    PRICE_SOURCE,
    PRICES,
    PRICES_RECORDED,
    SECONDS_PER_MONTH,
    estimate,
    metric_months_cost,
    usd,
)
from tests.matrix import matrix_config
from tools.render import render_stack

ALL_OFF = {
    "dashboard": False,
    "noDataAlarm": False,
    "serverErrorAlarm": False,
    "heartbeat": {"enabled": False},
}


def load(
    cost: dict[str, Any], observability: dict[str, Any] | None = None, **raw: Any
) -> AcpwConfig:
    data = {"istioVersion": "1.30", "cost": cost, **raw}
    if observability is not None:
        data["observability"] = observability
    return load_config(data, project="acpw", stack="test", aws_region="ap-northeast-1")


def test_the_price_table_is_one_table_with_its_source_and_date() -> None:
    assert PRICE_SOURCE == "https://aws.amazon.com/cloudwatch/pricing/"
    assert PRICES_RECORDED == "2026-12-02"
    assert set(PRICES) == {"us-east-1", "ap-northeast-1"}
    prices = PRICES["ap-northeast-1"]
    assert prices.api_per_1000_requests == Decimal("0.01")
    assert [price for _, price in prices.metric_tiers] == [
        Decimal("0.30"),
        Decimal("0.10"),
        Decimal("0.05"),
        Decimal("0.02"),
    ]
    assert prices.dashboard_month == Decimal("3.00")
    assert prices.alarm_metric_month == Decimal("0.10")


def test_month_is_730_hours() -> None:
    assert SECONDS_PER_MONTH == 2_628_000


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        (0, "0"),
        (1, "0.30"),
        (10_000, "3000.00"),
        # 10,000 × 0.30 + 10,000 × 0.10
        (20_000, "4000.00"),
        # 10,000 × 0.30 + 240,000 × 0.10 + 750,000 × 0.05 + 500,000 × 0.02
        (1_500_000, "74500.00"),
    ],
)
def test_custom_metrics_are_priced_by_tier(metrics: int, expected: str) -> None:
    assert metric_months_cost(metrics, PRICES["ap-northeast-1"]) == Decimal(expected)


def test_worked_example_of_the_readme() -> None:
    """100 requests/s, 2 hosts × 2 methods × 50 paths × 5 statuses, one gateway, everything on."""
    result = estimate(
        load({"requestsPerSecond": 100, "hosts": 2, "methods": 2, "paths": 50, "statuses": 5})
    )
    # 100 × 2,628,000 s + 43,800 heartbeats = 262,843,800 calls, $0.01 per 1,000
    assert result.api_calls == 262_843_800
    assert result.api_usd == Decimal("2628.438")
    # 2 × 2 × 50 × 5 = 1,000 metrics + the heartbeat's = 1,001, $0.30 each
    assert result.metrics == 1001
    assert result.metrics_usd == Decimal("300.30")
    assert result.dashboards_usd == Decimal("3.00")
    # no-data alarm: 1 query, 5xx share: 2 queries, each analyzing 1,001 metrics
    assert result.alarm_metrics == 3003
    assert result.alarms_usd == Decimal("300.30")
    assert result.total_usd == Decimal("3232.038")
    assert usd(result.total_usd) == "$3,232.04"
    assert result.summary().startswith(
        "acpw:cost: estimated CloudWatch bill $3,232.04/month: 262,843,800 PutMetricData calls "
        "$2,628.44, 1,001 custom metrics $300.30, 1 dashboard $3.00, 3,003 alarm metrics $300.30"
    )


def test_the_dev_stack_without_acpw_cost_prices_only_the_fixed_parts() -> None:
    result = estimate(load({}))
    assert result.api_calls == 43_800  # the heartbeat of one gateway
    assert result.metrics == 1  # no traffic: only the heartbeat's combination
    assert result.alarm_metrics == 3
    assert usd(result.total_usd) == "$4.04"  # 0.438 + 0.30 + 3.00 + 0.30


def test_hosts_default_to_the_matched_hosts_and_heartbeats_count_per_gateway() -> None:
    config = load(
        {"requestsPerSecond": 1, "paths": 10},
        matchHosts=["a.example.com", "b.example.com", "c.example.com"],
        gateways=[
            {"name": "a", "namespace": "a", "selector": {"app": "a"}},
            {"name": "b", "namespace": "b", "selector": {"app": "b"}},
        ],
    )
    result = estimate(config)
    assert result.metrics == 3 * 10 + 1
    assert result.api_calls == 2_628_000 + 2 * 43_800


def test_metrics_insights_alarms_are_billed_for_at_most_10000_metrics_per_query() -> None:
    result = estimate(
        load(
            {"requestsPerSecond": 1, "hosts": 1, "paths": 20_000},
            {**ALL_OFF, "noDataAlarm": False, "serverErrorAlarm": True},
        )
    )
    assert result.metrics == 20_000
    assert result.alarm_metrics == 2 * 10_000
    assert result.alarms_usd == Decimal("2000.00")


def test_everything_off_and_no_traffic_costs_nothing() -> None:
    result = estimate(load({}, ALL_OFF))
    assert result.total_usd == 0
    assert result.budget_warning() is None


def test_fractional_request_rates_stay_exact() -> None:
    result = estimate(load({"requestsPerSecond": 0.1}, ALL_OFF))
    assert result.api_calls == 262_800
    assert result.api_usd == Decimal("2.628")


def test_unknown_region_uses_the_fallback_table_and_says_so() -> None:
    config = load_config(
        {"istioVersion": "1.30", "images": {"modulesHonourRegion": True}},
        project="acpw",
        stack="test",
        aws_region="eu-west-1",
    )
    result = estimate(config)
    assert result.prices_region == "us-east-1"
    assert "no price table for eu-west-1: us-east-1 prices" in result.summary()


# -- the budget warning --------------------------------------------------------------------------

# Dashboard only: exactly $3.00 a month.
DASHBOARD_ONLY = {**ALL_OFF, "dashboard": True}


def test_the_warning_appears_at_the_threshold() -> None:
    result = estimate(load({"monthlyBudgetUsd": 3}, DASHBOARD_ONLY))
    assert result.total_usd == Decimal("3.00")
    warning = result.budget_warning()
    assert warning is not None
    assert warning.startswith(
        "acpw:cost.monthlyBudgetUsd: the estimated CloudWatch bill $3.00/month reaches the budget "
        "of $3.00/month."
    )
    assert "acpw:matchHosts" in warning
    assert "query string" in warning


def test_no_warning_below_the_threshold() -> None:
    assert estimate(load({"monthlyBudgetUsd": 3.01}, DASHBOARD_ONLY)).budget_warning() is None
    assert estimate(load({}, DASHBOARD_ONLY)).budget_warning() is None  # no budget, no warning


def test_a_tenth_of_a_cent_over_is_over() -> None:
    # 0.1 request/s: 262,800 calls $2.628, one metric $0.30, the dashboard $3.00: $5.928
    cost = {"requestsPerSecond": 0.1}
    assert estimate(load({**cost, "monthlyBudgetUsd": 5.928}, DASHBOARD_ONLY)).over_budget
    assert not estimate(load({**cost, "monthlyBudgetUsd": 5.929}, DASHBOARD_ONLY)).over_budget


def _render_warnings(cost: dict[str, Any]) -> list[str]:
    render = render_stack("matrix", config=matrix_config("1.30", cost=cost))
    return [w for w in render.warnings if w.startswith("acpw:cost.monthlyBudgetUsd")]


def test_the_over_budget_warning_reaches_the_render_output() -> None:
    # matrix: 2 gateways: 87,600 heartbeat calls ($0.876), the heartbeat's metric ($0.30),
    # the dashboard ($3.00), 3 alarm metrics ($0.30): $4.476
    assert len(_render_warnings({"monthlyBudgetUsd": 4.476})) == 1
    assert _render_warnings({"monthlyBudgetUsd": 4.477}) == []


def test_the_estimate_is_a_stack_output_of_the_render() -> None:
    render = render_stack("dev")
    assert render.outputs["observability"]["costEstimate"]["monthlyUsd"] == "$4.04"


# -- bad config ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cost", "message"),
    [
        ({"requestsPerSecond": "100"}, "acpw:cost.requestsPerSecond: '100' must be a number"),
        ({"requestsPerSecond": -1}, "acpw:cost.requestsPerSecond: -1 must not be negative"),
        ({"monthlyBudgetUsd": 0}, "acpw:cost.monthlyBudgetUsd: 0 must be more than 0"),
        ({"hosts": 0}, "acpw:cost.hosts: Input should be greater than or equal to 1"),
        ({"paths": "10"}, "acpw:cost.paths: Input should be a valid integer"),
        ({"statuses": 501}, "acpw:cost.statuses: Input should be less than or equal to 500"),
        ({"createBudget": True}, "acpw:cost.createBudget: needs acpw:cost.monthlyBudgetUsd"),
        ({"budgetEmails": ["ops"]}, "acpw:cost.budgetEmails: 'ops' is not an e-mail address"),
        ({"requests": 1}, "acpw:cost.requests: unknown key"),
    ],
)
def test_bad_cost_config_names_the_key(cost: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(cost)
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_hosts_beyond_the_matched_hosts_are_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"hosts": 3}, matchHosts=["a.example.com", "b.example.com"])
    assert caught.value.problems == [
        "acpw:cost.hosts: 3 is more than the 2 hosts of acpw:matchHosts, the only ones the "
        "sender counts"
    ]


def test_a_budget_needs_someone_to_notify() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"createBudget": True, "monthlyBudgetUsd": 10}, ALL_OFF)
    assert caught.value.problems[0].startswith(
        "acpw:cost.createBudget: the budget needs someone to notify"
    )
    # An e-mail is enough.
    load(
        {"createBudget": True, "monthlyBudgetUsd": 10, "budgetEmails": ["ops@example.com"]}, ALL_OFF
    )


def test_the_summary_counts_in_the_singular_where_one() -> None:
    summary = estimate(load({})).summary()
    assert " 1 dashboard $" in summary and "dashboard(s)" not in summary
    assert " 1 custom metric $" in summary or " custom metrics $" in summary
    assert "1 custom metrics" not in summary and "1 alarm metrics" not in summary


# --- the batching receiver --------------------------------------------------------------------


def _batching(**cost: Any) -> Any:
    from acpw.config import load_config

    return load_config(
        {
            "istioVersion": "1.30",
            "receiver": {"module": "batching", **cost.pop("receiver", {})},
            "cost": cost,
        },
        project="acpw",
        stack="dev",
        aws_region="us-east-1",
    )


def test_batching_calls_follow_flushes_pods_and_batches() -> None:
    from acpw.cost import SECONDS_PER_MONTH, estimate

    result = estimate(_batching(requestsPerSecond=1000, gatewayPods=3, paths=10))
    # 3 pods x one flush a minute x one batch (11 series): 131,400 calls.
    assert result.api_calls == 3 * SECONDS_PER_MONTH // 60 == 131_400
    assert result.per_request_api_calls == 1000 * SECONDS_PER_MONTH + 43_800
    assert "one per request: 2,628,043,800" in result.summary()
    assert result.as_output()["putMetricDataCallsPerRequest"] == "2,628,043,800"


def test_batching_series_beyond_max_series_are_one_overflow_series() -> None:
    from acpw.cost import estimate

    result = estimate(_batching(requestsPerSecond=1000, paths=5000, receiver={"maxSeries": 2500}))
    assert result.metrics == 2501  # maxSeries + overflow
    # 2,501 series: 3 batches of at most 1,000 per flush, one pod.
    assert result.api_calls == 43_800 * 3


def test_batching_never_makes_more_calls_than_requests() -> None:
    from acpw.cost import estimate

    result = estimate(_batching(requestsPerSecond=0.001, receiver={"flushSeconds": 1}))
    assert result.api_calls == result.per_request_api_calls


def test_readme_shows_both_receivers_at_1000_requests_per_second() -> None:
    from acpw.cost import estimate, usd

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    published = estimate(_published_1000())
    batching = estimate(_batching(requestsPerSecond=1000))
    assert f"{published.api_calls:,.0f}" in readme and usd(published.total_usd) in readme
    assert f"{batching.api_calls:,.0f}" in readme and usd(batching.total_usd) in readme


def _published_1000() -> Any:
    from acpw.config import load_config

    return load_config(
        {"istioVersion": "1.30", "cost": {"requestsPerSecond": 1000}},
        project="acpw",
        stack="dev",
        aws_region="us-east-1",
    )
