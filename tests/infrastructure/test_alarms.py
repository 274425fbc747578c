"""The stack's alarms and dashboard (template.yaml): every function, queue, table index and the API is watched, every
alarm notifies the optional topic, and every metric they read is one that AWS or our functions publish."""

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chat_memory.observability import NAMESPACE, SERVICE
from chat_memory_dev.template import REPO_ROOT, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
ALARMS = {name: r for name, r in RESOURCES.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
TOPIC_ACTIONS = {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def _of_type(kind: str) -> list[str]:
    return sorted(name for name, r in RESOURCES.items() if r["Type"] == kind)


def _stats(alarm: dict[str, Any]) -> list[dict[str, Any]]:
    """The metrics an alarm reads (its MetricStat entries)."""
    return [m["MetricStat"]["Metric"] for m in alarm["Properties"]["Metrics"] if "MetricStat" in m]


def _dimensions(metric: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in metric["Dimensions"]}


def _watching(namespace: str, metric_name: str, dimension: str, value: Any) -> list[str]:
    return [
        name
        for name, alarm in ALARMS.items()
        for m in _stats(alarm)
        if (m["Namespace"], m["MetricName"]) == (namespace, metric_name) and _dimensions(m).get(dimension) == value
    ]


def _published_metrics() -> set[str]:
    """The metric names our functions emit (metrics.add_metric(name=...))."""
    sources = (REPO_ROOT / "functions" / "chat_memory").rglob("*.py")
    return {name for path in sources for name in re.findall(r'add_metric\(name="(\w+)"', Path(path).read_text())}


@pytest.mark.parametrize("function", _of_type("AWS::Serverless::Function"))
def test_every_function_has_an_alarm_on_its_errors_and_throttles(function: str) -> None:
    ref = {"Ref": function}
    [on_errors] = _watching("AWS/Lambda", "Errors", "FunctionName", ref)
    assert _watching("AWS/Lambda", "Throttles", "FunctionName", ref) == [on_errors]
    # A conditional function's alarm exists exactly when the function does.
    assert ALARMS[on_errors].get("Condition") == RESOURCES[function].get("Condition")


@pytest.mark.parametrize("queue", _of_type("AWS::SQS::Queue"))
def test_every_queue_has_an_alarm_when_anything_waits_in_it(queue: str) -> None:
    [alarm] = _watching(
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", {"Fn::GetAtt": [queue, "QueueName"]}
    )
    properties = ALARMS[alarm]["Properties"]
    assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanOrEqualToThreshold", 1)
    assert ALARMS[alarm].get("Condition") == RESOURCES[queue].get("Condition")


def test_throttling_of_the_table_and_of_each_of_its_indexes_is_watched() -> None:
    table = RESOURCES["MemoryTable"]["Properties"]
    # A local index's throttling is the table's; a global index has its own.
    indexes = [None, *(i["IndexName"] for i in table["GlobalSecondaryIndexes"])]
    for kind in ("ReadThrottleEvents", "WriteThrottleEvents"):
        watched = [
            _dimensions(m).get("GlobalSecondaryIndexName")
            for alarm in ALARMS.values()
            for m in _stats(alarm)
            if m["MetricName"] == kind and _dimensions(m)["TableName"] == {"Ref": "MemoryTable"}
        ]
        assert sorted(watched, key=str) == sorted(indexes, key=str), kind


def test_the_api_5xx_rate_and_the_summary_lag_have_their_thresholds_from_parameters() -> None:
    api = ALARMS["Api5xxAlarm"]["Properties"]
    assert {m["MetricName"] for m in _stats(ALARMS["Api5xxAlarm"])} == {"5xx", "Count"}
    assert all(_dimensions(m) == {"ApiId": {"Ref": "HttpApi"}} for m in _stats(ALARMS["Api5xxAlarm"]))
    assert api["Threshold"] == {"Ref": "Api5xxAlarmPercent"}
    [lag] = _stats(ALARMS["SummaryLagAlarm"])
    assert (lag["Namespace"], lag["MetricName"], _dimensions(lag)) == (NAMESPACE, "SummaryLag", {"service": SERVICE})
    assert ALARMS["SummaryLagAlarm"]["Properties"]["Threshold"] == {"Ref": "SummaryLagAlarmSeconds"}


@pytest.mark.parametrize("alarm", sorted(ALARMS))
def test_every_alarm_notifies_the_topic_when_one_is_given_and_reads_only_what_it_defines(alarm: str) -> None:
    properties = ALARMS[alarm]["Properties"]
    assert properties["AlarmActions"] == TOPIC_ACTIONS and properties["OKActions"] == TOPIC_ACTIONS
    assert properties["TreatMissingData"] == "notBreaching"  # no traffic is not an outage
    [returned] = [m for m in properties["Metrics"] if m.get("ReturnData", True)]
    ids = {m["Id"] for m in properties["Metrics"] if "MetricStat" in m}
    assert set(re.findall(r"\b[a-z]\w*\b", returned["Expression"])) - {"FILL", "IF", "SUM"} == ids, returned
    for metric in _stats(ALARMS[alarm]):
        if metric["Namespace"] == NAMESPACE:
            assert metric["MetricName"] in _published_metrics()


def test_the_topic_parameter_is_optional() -> None:
    parameter = TEMPLATE["Parameters"]["AlarmTopicArn"]
    assert parameter["Default"] == ""
    assert re.fullmatch(parameter["AllowedPattern"], "")
    assert re.fullmatch(parameter["AllowedPattern"], "arn:aws:sns:eu-west-1:123456789012:chat-memory-alarms")
    assert TEMPLATE["Conditions"]["HasAlarmTopic"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def _dashboard() -> dict[str, Any]:
    body = RESOURCES["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    substituted = re.sub(r"\$\{([\w:.]+)\}", lambda m: "300" if m.group(1) == "SummaryLagAlarmSeconds" else "x", body)
    parsed: dict[str, Any] = json.loads(substituted)
    return parsed


def test_the_dashboard_is_json_once_substituted_and_shows_what_the_issue_asks() -> None:
    widgets = _dashboard()["widgets"]
    metrics = {(m[0], m[1]) for w in widgets for m in w["properties"]["metrics"]}
    for wanted in [
        ("AWS/ApiGateway", "Count"),
        ("AWS/ApiGateway", "Latency"),
        ("AWS/DynamoDB", "ConsumedReadCapacityUnits"),
        ("AWS/DynamoDB", "ConsumedWriteCapacityUnits"),
        (NAMESPACE, "SummariesWritten"),
        (NAMESPACE, "SummaryLag"),
    ]:
        assert wanted in metrics, wanted
    latency = [m[-1]["stat"] for w in widgets for m in w["properties"]["metrics"] if m[1] == "Latency"]
    assert {"p50", "p95"} <= set(latency)
    assert {name for namespace, name in metrics if namespace == NAMESPACE} <= _published_metrics()
    # Widgets do not overlap on the dashboard's 24-column grid.
    cells = [(w["x"] + dx, w["y"] + dy) for w in widgets for dx in range(w["width"]) for dy in range(w["height"])]
    assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)
