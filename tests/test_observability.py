"""Dashboard, alarms, heartbeat and budget (acpw/observability.py), offline and in the render."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
import yaml

from acpw.config import ConfigError, load_config
from acpw.observability import (
    DIMENSIONS,
    SEARCH_MAX_CHARS,
    STATUS_CLASSES,
    dashboard_body,
    heartbeat_name,
    search,
)
from tests.matrix import matrix_config
from tools.mock_engine import ACCOUNT
from tools.render import ROOT, Render, last_monitor_registrations, render_stack

DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
BUDGET = "aws:budgets/budget:Budget"
CRONJOB = "kubernetes:batch/v1:CronJob"
COMPONENT = "acpw:observability:Observability"

# -- the dashboard body schema ---------------------------------------------------------------------
# Written from the AWS "Dashboard Body Structure and Syntax" reference (CloudWatch API Reference,
# CloudWatch-Dashboard-Body-Structure): only the parts this program uses, and strict about them.

_ID = {"type": "string", "pattern": "^[a-z][a-zA-Z0-9_]*$"}
_AXIS = {
    "type": "object",
    "properties": {
        "min": {"type": "number"},
        "max": {"type": "number"},
        "label": {"type": "string"},
        "showUnits": {"type": "boolean"},
    },
    "additionalProperties": False,
}
_METRIC_OPTIONS = {
    "type": "object",
    "properties": {
        "expression": {"type": "string", "minLength": 1},
        "id": _ID,
        "label": {"type": "string"},
        "color": {"type": "string", "pattern": "^#[0-9a-fA-F]{6}$"},
        "visible": {"type": "boolean"},
        "period": {"type": "integer", "minimum": 1},
        "stat": {"type": "string"},
        "region": {"type": "string"},
        "yAxis": {"enum": ["left", "right"]},
    },
    "required": ["expression", "id"],
    "additionalProperties": False,
}
_POSITION = {
    "x": {"type": "integer", "minimum": 0, "maximum": 23},
    "y": {"type": "integer", "minimum": 0},
    "width": {"type": "integer", "minimum": 1, "maximum": 24},
    "height": {"type": "integer", "minimum": 1, "maximum": 1000},
}
DASHBOARD_BODY_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "properties": {
        "start": {"type": "string", "pattern": "^-P(T?[0-9]+[MHDW])+$"},
        "end": {"type": "string"},
        "periodOverride": {"enum": ["auto", "inherit"]},
        "widgets": {
            "type": "array",
            "minItems": 1,
            "maxItems": 500,
            "items": {
                "oneOf": [
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "metric"},
                            **_POSITION,
                            "properties": {
                                "type": "object",
                                "properties": {
                                    "metrics": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {
                                            "type": "array",
                                            "prefixItems": [_METRIC_OPTIONS],
                                            "items": False,
                                        },
                                    },
                                    "region": {
                                        "type": "string",
                                        "pattern": "^[a-z]{2}-[a-z]+-\\d$",
                                    },
                                    "title": {"type": "string"},
                                    "view": {
                                        "enum": [
                                            "timeSeries",
                                            "singleValue",
                                            "gauge",
                                            "bar",
                                            "pie",
                                            "table",
                                        ]
                                    },
                                    "stacked": {"type": "boolean"},
                                    "stat": {"type": "string"},
                                    "period": {"type": "integer", "minimum": 60, "multipleOf": 60},
                                    "yAxis": {
                                        "type": "object",
                                        "properties": {"left": _AXIS, "right": _AXIS},
                                        "additionalProperties": False,
                                    },
                                    "legend": {
                                        "type": "object",
                                        "properties": {
                                            "position": {"enum": ["right", "bottom", "hidden"]}
                                        },
                                        "additionalProperties": False,
                                    },
                                    "annotations": {
                                        "type": "object",
                                        "properties": {
                                            "horizontal": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "value": {"type": "number"},
                                                        "label": {"type": "string"},
                                                        "color": {"type": "string"},
                                                        "fill": {
                                                            "enum": ["above", "below", "between"]
                                                        },
                                                    },
                                                    "required": ["value"],
                                                    "additionalProperties": False,
                                                },
                                            }
                                        },
                                        "additionalProperties": False,
                                    },
                                },
                                "required": ["metrics", "region"],
                                "additionalProperties": False,
                            },
                        },
                        "required": ["type", "width", "height", "properties"],
                        "additionalProperties": False,
                    },
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": "text"},
                            **_POSITION,
                            "properties": {
                                "type": "object",
                                "properties": {
                                    "markdown": {"type": "string", "minLength": 1},
                                    "background": {"enum": ["solid", "transparent"]},
                                },
                                "required": ["markdown"],
                                "additionalProperties": False,
                            },
                        },
                        "required": ["type", "width", "height", "properties"],
                        "additionalProperties": False,
                    },
                ]
            },
        },
    },
    "required": ["widgets"],
    "additionalProperties": False,
}


def _validate_body(body: dict[str, Any]) -> None:
    jsonschema.Draft202012Validator.check_schema(DASHBOARD_BODY_SCHEMA)
    jsonschema.Draft202012Validator(DASHBOARD_BODY_SCHEMA).validate(body)


def _body(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "namespace": "AWSCloudWatchProxyWasm",
        "metric_name": "RequestCount",
        "region": "ap-northeast-1",
        "server_error_percent": 5.0,
        "alarm_names": ("acpw-dev-no-data", "acpw-dev-5xx-share"),
        "heartbeat_host": "acpw-heartbeat.invalid",
    }
    return dashboard_body(**{**args, **overrides})


def _expressions(body: dict[str, Any]) -> list[str]:
    return [
        line[0]["expression"]
        for widget in body["widgets"]
        if widget["type"] == "metric"
        for line in widget["properties"]["metrics"]
    ]


def test_the_dashboard_body_matches_the_dashboard_body_structure() -> None:
    _validate_body(_body())
    _validate_body(_body(server_error_percent=None, alarm_names=(), heartbeat_host=None))


def test_the_schema_refuses_what_cloudwatch_would() -> None:
    body = _body()
    body["widgets"][1]["properties"]["view"] = "lines"
    with pytest.raises(jsonschema.ValidationError):
        _validate_body(body)
    body = _body()
    body["widgets"][1]["width"] = 25
    with pytest.raises(jsonschema.ValidationError):
        _validate_body(body)
    body = _body()
    del body["widgets"][2]["properties"]["region"]
    with pytest.raises(jsonschema.ValidationError):
        _validate_body(body)


@pytest.mark.parametrize(
    ("namespace", "schema_namespace"),
    [
        ("AWSCloudWatchProxyWasm", "AWSCloudWatchProxyWasm"),
        ("Team/Edge Gateways", '"Team/Edge Gateways"'),
    ],
)
def test_every_expression_names_namespace_metric_and_dimensions(
    namespace: str, schema_namespace: str
) -> None:
    body = _body(namespace=namespace, metric_name="Hits")
    searches = [e for e in _expressions(body) if "SEARCH(" in e]
    insights = [e for e in _expressions(body) if e.startswith("SELECT ")]
    assert len(searches) >= 6 and len(insights) == 2
    schema = "{" + ",".join([schema_namespace, *DIMENSIONS]) + "}"
    for expression in searches:
        assert f'SUM(SEARCH(\'{schema} MetricName="Hits"' in expression
        assert expression.endswith(", 'Sum', 60))")
    for expression in insights:
        assert expression.startswith(
            f'SELECT SUM("Hits") FROM SCHEMA("{namespace}", host, method, path, status) GROUP BY '
        )
        assert expression.endswith(" ORDER BY SUM() DESC LIMIT 10")
    assert {e.split(" GROUP BY ")[1].split()[0] for e in insights} == {"host", "path"}


def test_widgets_show_traffic_status_classes_share_and_top_n() -> None:
    body = _body()
    titles = [w["properties"].get("title") for w in body["widgets"] if w["type"] == "metric"]
    assert titles == [
        "Requests per minute",
        "Requests per minute by status class",
        "5xx share of requests (%)",
        "Top 10 hosts (requests per minute)",
        "Top 10 paths (requests per minute)",
    ]
    by_title = {w["properties"].get("title"): w["properties"] for w in body["widgets"]}
    classes = by_title["Requests per minute by status class"]
    labels = [line[0].get("label") for line in classes["metrics"] if line[0].get("visible", True)]
    assert labels == ["2xx", "3xx", "4xx", "5xx", "other codes"]
    assert classes["stacked"] is True
    share = by_title["5xx share of requests (%)"]
    [shown] = [line[0] for line in share["metrics"] if line[0].get("visible", True)]
    assert shown["expression"] == "100 * FILL(c5xx, 0) / total"
    assert share["annotations"]["horizontal"] == [{"label": "alarm threshold", "value": 5.0}]
    assert "annotations" not in _body(server_error_percent=None)["widgets"][3]["properties"]


def test_every_id_a_widget_uses_is_defined_in_that_widget() -> None:
    for widget in _body()["widgets"]:
        if widget["type"] != "metric":
            continue
        lines = [line[0] for line in widget["properties"]["metrics"]]
        ids = [line["id"] for line in lines]
        assert len(ids) == len(set(ids))
        for line in lines:
            if line["expression"].startswith(("SELECT", "SUM(SEARCH")):
                continue
            used = set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b", line["expression"])) - {"FILL"}
            assert used <= set(ids), (line, ids)


def test_widgets_fit_the_grid_without_overlapping() -> None:
    cells: set[tuple[int, int]] = set()
    for widget in _body()["widgets"]:
        assert widget["x"] + widget["width"] <= 24
        area = {
            (x, y)
            for x in range(widget["x"], widget["x"] + widget["width"])
            for y in range(widget["y"], widget["y"] + widget["height"])
        }
        assert not cells & area
        cells |= area


def test_status_classes_are_exact_codes_of_their_class() -> None:
    seen: set[int] = set()
    for name, codes in STATUS_CLASSES.items():
        assert all(str(code).startswith(name[0]) and 100 <= code <= 599 for code in codes)
        assert not seen & set(codes)
        seen |= set(codes)
    expression = search("NS", "RequestCount", (500, 503))
    assert expression == (
        'SEARCH(\'{NS,host,method,path,status} MetricName="RequestCount" '
        '(status="500" OR status="503")\', \'Sum\', 60)'
    )


def test_the_longest_search_fits_cloudwatch_limit() -> None:
    longest = max(
        len(search("N" * 255, "M" * 255, codes).removeprefix("SEARCH('").rsplit("'", 2)[0])
        for codes in STATUS_CLASSES.values()
    )
    assert longest <= SEARCH_MAX_CHARS


# -- in the render -----------------------------------------------------------------------------------


def _render(**overrides: Any) -> Render:
    return render_stack("matrix", config=matrix_config("1.30", **overrides))


def _alarms(render: Render) -> dict[str, dict[str, Any]]:
    return {r.inputs["name"]: r.inputs for r in render.of_type(ALARM)}


def test_the_dashboard_appears_in_the_committed_offline_render() -> None:
    resources = yaml.safe_load((ROOT / "rendered" / "dev" / "aws.yaml").read_text())
    [dashboard] = [r for r in resources if r["type"] == DASHBOARD]
    assert dashboard["inputs"]["dashboardName"] == "acpw-dev"
    body = json.loads(dashboard["inputs"]["dashboardBody"])
    _validate_body(body)
    assert any("AWSCloudWatchProxyWasm" in e for e in _expressions(body))
    outputs = yaml.safe_load((ROOT / "rendered" / "dev" / "outputs.yaml").read_text())
    assert outputs["observability"]["dashboardUrl"] == (
        "https://ap-northeast-1.console.aws.amazon.com/cloudwatch/home?region=ap-northeast-1"
        "#dashboards/dashboard/acpw-dev"
    )


def test_the_dashboard_follows_the_configured_namespace_and_metric() -> None:
    render = _render(cloudwatch={"namespace": "Example/Gateways", "metricName": "Hits"})
    [dashboard] = render.of_type(DASHBOARD)
    body = json.loads(dashboard.inputs["dashboardBody"])
    _validate_body(body)
    for expression in _expressions(body):
        if expression.startswith(("SELECT", "SUM(SEARCH")):
            assert "Example/Gateways" in expression and "Hits" in expression
    for alarm in _alarms(render).values():
        for query in alarm["metricQueries"]:
            if "period" in query:
                assert 'SELECT SUM("Hits") FROM SCHEMA("Example/Gateways", ' in query["expression"]


def test_the_no_data_alarm() -> None:
    alarm = _alarms(_render(observability={"noDataMinutes": 15}))["acpw-matrix-no-data"]
    assert alarm["treatMissingData"] == "breaching"
    assert alarm["comparisonOperator"] == "LessThanThreshold"
    assert alarm["threshold"] == 1
    assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 15
    [query] = alarm["metricQueries"]
    assert query == {
        "id": "requests",
        "expression": 'SELECT SUM("RequestCount") FROM SCHEMA("AWSCloudWatchProxyWasm", host, '
        "method, path, status)",
        "period": 60,
        "label": "requests per minute",
        "returnData": True,
    }
    for check in ("access key", "region", "ServiceEntry", "receiver started"):
        assert check in alarm["alarmDescription"]


def test_the_5xx_share_alarm() -> None:
    render = _render(observability={"serverErrorPercent": 2.5, "serverErrorMinutes": 3})
    alarm = _alarms(render)["acpw-matrix-5xx-share"]
    assert alarm["comparisonOperator"] == "GreaterThanThreshold"
    assert alarm["threshold"] == 2.5
    assert alarm["evaluationPeriods"] == alarm["datapointsToAlarm"] == 3
    assert alarm["treatMissingData"] == "notBreaching"
    errors, requests, share = alarm["metricQueries"]
    assert (errors["id"], requests["id"], share["id"]) == ("errors", "requests", "share")
    assert errors["period"] == requests["period"] == 60
    assert not errors["returnData"] and not requests["returnData"] and share["returnData"]
    assert "WHERE status = '500' OR status = '501'" in errors["expression"]
    assert "'404'" not in errors["expression"]
    assert "WHERE" not in requests["expression"]
    assert share["expression"] == "IF(requests >= 20, 100 * FILL(errors, 0) / requests, 0)"


def test_alarms_notify_the_created_topic() -> None:
    render = _render()
    [topic] = render.of_type(TOPIC)
    arn = f"arn:aws:sns:ap-northeast-1:{ACCOUNT}:acpw-matrix-alarms"
    assert topic.inputs["name"] == "acpw-matrix-alarms"
    for alarm in _alarms(render).values():
        assert alarm["alarmActions"] == alarm["okActions"] == [arn]
    assert render.outputs["observability"]["alarmTopicArn"] == arn
    assert render.of_type(TOPIC_POLICY) == []  # no budget: no policy needed


def test_alarms_notify_a_given_topic_and_none_is_created() -> None:
    arn = "arn:aws:sns:ap-northeast-1:123456789012:oncall"
    render = _render(observability={"topicArn": arn})
    assert render.of_type(TOPIC) == []
    for alarm in _alarms(render).values():
        assert alarm["alarmActions"] == [arn]


@pytest.mark.parametrize(
    ("switch", "gone"),
    [
        ({"dashboard": False}, {DASHBOARD}),
        ({"serverErrorAlarm": False}, set()),
        ({"noDataAlarm": False, "serverErrorAlarm": False}, {ALARM, TOPIC}),
        ({"noDataAlarm": False, "heartbeat": {"enabled": False}}, {CRONJOB}),
    ],
)
def test_each_part_can_be_switched_off(switch: dict[str, Any], gone: set[str]) -> None:
    def ours(render: Render) -> set[str]:
        [component] = render.of_type(COMPONENT)
        return {r.type for r in render.registrations if r.parent == component.urn}

    assert ours(_render()) - ours(_render(observability=switch)) == gone
    if switch.get("serverErrorAlarm") is False and "noDataAlarm" not in switch:
        assert list(_alarms(_render(observability=switch))) == ["acpw-matrix-no-data"]
    if "dashboard" in switch:
        output = _render(observability=switch).outputs["observability"]
        assert output["dashboardUrl"] is None and output["dashboardName"] is None


def test_everything_off_leaves_an_empty_component() -> None:
    render = _render(
        observability={
            "dashboard": False,
            "noDataAlarm": False,
            "serverErrorAlarm": False,
            "heartbeat": {"enabled": False},
        }
    )
    [component] = render.of_type(COMPONENT)
    assert not [r for r in render.registrations if r.parent == component.urn]


def test_the_component_and_its_children() -> None:
    render = _render(cost={"createBudget": True, "monthlyBudgetUsd": 25})
    [component] = render.of_type(COMPONENT)
    [deployment] = render.of_type("acpw:index:AcpwDeployment")
    assert component.parent == deployment.urn
    children = {r.type for r in render.registrations if r.parent == component.urn}
    assert children == {DASHBOARD, ALARM, TOPIC, TOPIC_POLICY, BUDGET, CRONJOB}


def test_heartbeats_go_through_each_gateway_with_a_counted_host() -> None:
    render = _render()
    heartbeats = {
        o["metadata"]["namespace"]: o
        for o in render.kubernetes
        if o["kind"] == "CronJob" and o["metadata"]["name"].startswith("acpw-heartbeat-")
    }
    assert set(heartbeats) == {"istio-system", "edge"}
    job = heartbeats["edge"]
    assert job["spec"]["schedule"] == "* * * * *"
    pod = job["spec"]["jobTemplate"]["spec"]["template"]
    assert pod["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    [container] = pod["spec"]["containers"]
    command = container["command"]
    assert command[0] == "curl"
    assert "Host: www.example.com" in command  # the matrix's only matched host
    assert command[-1] == "http://edge-gateway.edge.svc.cluster.local:80/acpw-heartbeat"


def test_heartbeat_names_fit_cronjob_limits() -> None:
    from acpw.config import GatewayConfig

    long = GatewayConfig.model_validate(
        {"name": "g" * 63, "namespace": "ns", "selector": {"app": "g"}}
    )
    assert len(heartbeat_name(long)) <= 52
    short = GatewayConfig.model_validate(
        {"name": "gw", "namespace": "ns", "selector": {"app": "g"}}
    )
    assert heartbeat_name(short) == "acpw-heartbeat-gw"


def test_the_budget_watches_the_accounts_cloudwatch_spend() -> None:
    render = _render(
        cost={"createBudget": True, "monthlyBudgetUsd": 25, "budgetEmails": ["ops@example.com"]}
    )
    [budget] = render.of_type(BUDGET)
    inputs = budget.inputs
    assert inputs["name"] == "acpw-matrix-cloudwatch"
    assert (
        inputs["budgetType"],
        inputs["limitAmount"],
        inputs["limitUnit"],
        inputs["timeUnit"],
    ) == (
        "COST",
        "25.00",
        "USD",
        "MONTHLY",
    )
    assert inputs["costFilters"] == [
        {"name": "Service", "values": ["AmazonCloudWatch"]},
        {"name": "LinkedAccount", "values": [ACCOUNT]},
    ]
    arn = f"arn:aws:sns:ap-northeast-1:{ACCOUNT}:acpw-matrix-alarms"
    kinds = sorted(n["notificationType"] for n in inputs["notifications"])
    assert kinds == ["ACTUAL", "FORECASTED"]
    for notification in inputs["notifications"]:
        assert notification["subscriberSnsTopicArns"] == [arn]
        assert notification["subscriberEmailAddresses"] == ["ops@example.com"]
    [policy] = render.of_type(TOPIC_POLICY)
    statement = json.loads(policy.inputs["policy"])["Statement"][0]
    assert statement["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert statement["Resource"] == arn


def test_no_budget_unless_asked() -> None:
    assert _render(cost={"monthlyBudgetUsd": 25}).of_type(BUDGET) == []


def test_the_estimate_is_logged_not_warned_below_the_budget() -> None:
    render = _render(cost={"monthlyBudgetUsd": 1000})
    assert not [w for w in render.warnings if w.startswith("acpw:cost")]
    assert render.outputs["observability"]["costEstimate"]["budgetUsd"] == "$1,000.00"


# -- bad config ------------------------------------------------------------------------------------


def _load(observability: Any, **raw: Any) -> None:
    load_config(
        {"istioVersion": "1.30", "observability": observability, **raw},
        project="acpw",
        stack="test",
        aws_region="ap-northeast-1",
    )


@pytest.mark.parametrize(
    ("observability", "message"),
    [
        (
            {"noDataMinutes": 1},
            "acpw:observability.noDataMinutes: 1 is out of range: allowed 3 to 180",
        ),
        ({"noDataMinutes": 181}, "acpw:observability.noDataMinutes: 181 is out of range"),
        (
            {"noDataMinutes": "10"},
            "acpw:observability.noDataMinutes: Input should be a valid integer",
        ),
        ({"serverErrorPercent": 0}, "acpw:observability.serverErrorPercent: 0 is out of range"),
        ({"serverErrorPercent": 100}, "acpw:observability.serverErrorPercent: 100 is out of range"),
        (
            {"serverErrorPercent": "5"},
            "acpw:observability.serverErrorPercent: '5' must be a number",
        ),
        ({"serverErrorMinutes": 0}, "acpw:observability.serverErrorMinutes: 0 is out of range"),
        ({"dashboard": "yes"}, "acpw:observability.dashboard: Input should be a valid boolean"),
        ({"dashbord": False}, "acpw:observability.dashbord: unknown key"),
        ({"topicArn": "oncall"}, "acpw:observability.topicArn: 'oncall' is not an SNS topic ARN"),
        (
            {"heartbeat": {"path": "/ping?x=1"}},
            "acpw:observability.heartbeat.path: '/ping?x=1' must start with '/'",
        ),
        ({"heartbeat": {"port": 0}}, "acpw:observability.heartbeat.port: Input should be greater"),
        (
            {"heartbeat": {"enabled": False}},
            "acpw:observability.noDataAlarm: needs acpw:observability.heartbeat.enabled: true",
        ),
        ("on", "acpw:observability: Input should be a valid dictionary"),
    ],
)
def test_bad_observability_config_names_the_key(observability: Any, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(observability)
    assert any(p.startswith(message) for p in caught.value.problems), caught.value.problems


def test_the_heartbeat_host_must_be_counted() -> None:
    with pytest.raises(ConfigError) as caught:
        _load({"heartbeat": {"host": "other.example.com"}}, matchHosts=["www.example.com"])
    assert caught.value.problems == [
        "acpw:observability.heartbeat.host: 'other.example.com' is not in acpw:matchHosts, so the "
        "sender would not count the heartbeat: use one of www.example.com"
    ]


def test_a_metric_name_the_queries_cannot_quote_is_refused() -> None:
    with pytest.raises(ConfigError) as caught:
        _load({}, cloudwatch={"metricName": 'Request"Count'})
    assert caught.value.problems[0].startswith(
        "acpw:cloudwatch.metricName: 'Request\"Count' holds a quote or backslash"
    )
    # Fine once nothing needs to quote it.
    _load(
        {
            "dashboard": False,
            "noDataAlarm": False,
            "serverErrorAlarm": False,
        },
        cloudwatch={"metricName": 'Request"Count'},
    )


def test_bad_config_registers_no_resource() -> None:
    with pytest.raises(ConfigError) as caught:
        _render(observability={"noDataMinutes": 0})
    assert "acpw:observability.noDataMinutes: 0 is out of range" in str(caught.value)
    assert last_monitor_registrations() == []
