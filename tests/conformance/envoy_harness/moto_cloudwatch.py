"""moto's CloudWatch backend behind the CloudWatch stand-in: a real parser of the AWS API.

moto (PyPI, ``moto[server]``) runs as ``ThreadedMotoServer`` on loopback; each call the
stand-in receives is passed on to it unchanged (body, ``Host``, content type, the
``Authorization`` Envoy signed it with, which moto reads the service and region from), and
moto's answer is the stand-in's answer. boto3's ``get_metric_statistics`` / ``list_metrics``
against the same server then show what CloudWatch would hold. moto does not check signatures:
tests/conformance/envoy_harness/sigv4.py does.
"""

from __future__ import annotations

import datetime
import http.client
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

from tests.conformance.envoy_harness.fake_cloudwatch import Call

THROTTLING = (
    b'<ErrorResponse xmlns="http://monitoring.amazonaws.com/doc/2010-08-01/"><Error>'
    b"<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
    b"<RequestId>acpw-test</RequestId></ErrorResponse>"
)
"""The query protocol's error body of a throttled call (HTTP 400, code ``Throttling``)."""


class MotoCloudWatch:
    """A moto server and the stand-in's ``respond`` hook forwarding to it."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._server = ThreadedMotoServer("127.0.0.1", 0, verbose=False)
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        self.throttle = False
        """True: answer every call as throttled (400 Throttling) without passing it on."""

    def respond(self, call: Call) -> tuple[int, bytes]:
        if self.throttle:
            return 400, THROTTLING
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            headers: dict[str, str | int] = {
                k: call.headers[k]
                for k in ("host", "content-type", "authorization", "x-amz-date")
                if k in call.headers
            }
            conn.request(call.method, call.path, body=call.body, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def client(self) -> Any:
        return boto3.client(
            "cloudwatch",
            region_name=self.region,
            endpoint_url=f"http://{self.host}:{self.port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def series(self, namespace: str) -> list[dict[str, str]]:
        """Every dimension set of ``namespace`` (ListMetrics), as {name: value}."""
        out: list[dict[str, str]] = []
        for page in self.client().get_paginator("list_metrics").paginate(Namespace=namespace):
            for metric in page["Metrics"]:
                dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
                if dims not in out:  # moto lists a metric once per flush that sent it
                    out.append(dims)
        return out

    def sum(self, namespace: str, metric: str, dimensions: dict[str, str]) -> float:
        """GetMetricStatistics Sum of one dimension set over the last and next hour."""
        now = datetime.datetime.now(datetime.UTC)
        result = self.client().get_metric_statistics(
            Namespace=namespace,
            MetricName=metric,
            Dimensions=[{"Name": k, "Value": v} for k, v in dimensions.items()],
            StartTime=now - datetime.timedelta(hours=1),
            EndTime=now + datetime.timedelta(hours=1),
            Period=3600,
            Statistics=["Sum"],
        )
        return float(sum(p["Sum"] for p in result["Datapoints"]))

    def close(self) -> None:
        self._server.stop()
