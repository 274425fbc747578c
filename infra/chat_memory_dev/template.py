"""Read template.yaml, the single source of truth for routes, handlers and the table's keys."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form intrinsics (`!Ref X` -> {"Ref": "X"})."""


def _intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    with path.open(encoding="utf-8") as fh:
        data = yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - a SafeLoader subclass
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a CloudFormation template")
    return data


NO_AUTHORIZER: Final = "NONE"  # an HttpApi event's `Auth: {Authorizer: NONE}`: public despite a default
DEFAULT_ROUTE: Final = "$default"  # the route of an HttpApi event without Path and Method
LAMBDA_DEFAULT_TIMEOUT_S: Final = 3  # a function's Timeout when neither it nor Globals set one
IMPLICIT_HTTP_API: Final = "ServerlessHttpApi"  # the API SAM creates for HttpApi events without an ApiId


@dataclass(frozen=True)
class HttpRoute:
    function: str  # logical id in the template
    handler: str  # "package.module.function"
    method: str  # upper case
    path: str  # API Gateway form, e.g. /api/v2/sessions/{sessionId}/memory
    authorizer: str | None = None  # the route's authorizer (event's, else the API's default); None: public
    timeout_s: int | None = None  # the function's Timeout; None: only API Gateway's 30 s integration timeout


@dataclass(frozen=True)
class LambdaAuthorizer:
    """An HttpApi `Auth.Authorizers` entry backed by a function of this template (REQUEST, payload 2.0)."""

    name: str
    function: str  # logical id of the authorizer function
    handler: str  # "package.module.function"
    payload_format_version: str
    simple_responses: bool
    identity_headers: tuple[str, ...]  # Identity.Headers: $request.header.<name>
    identity_query_strings: tuple[str, ...]  # Identity.QueryStrings: $request.querystring.<name>
    ttl_seconds: int  # Identity.ReauthorizeEvery (a parameter's Default when it is a !Ref); 0: no cache
    timeout_s: int  # the function's Timeout (Globals applied)

    @property
    def identity_source(self) -> tuple[str, ...]:
        """As API Gateway names it (SAM's order: headers, then query strings)."""
        return tuple(f"$request.header.{h}" for h in self.identity_headers) + tuple(
            f"$request.querystring.{q}" for q in self.identity_query_strings
        )


def _http_api_auth(template: Mapping[str, Any], api_id: str) -> Mapping[str, Any]:
    """The `Auth` of an AWS::Serverless::HttpApi (its own, else Globals.HttpApi's)."""
    resource = template.get("Resources", {}).get(api_id)
    if api_id != IMPLICIT_HTTP_API and (resource is None or resource.get("Type") != "AWS::Serverless::HttpApi"):
        raise ValueError(f"{api_id} is not an AWS::Serverless::HttpApi of this template")
    own = ((resource or {}).get("Properties") or {}).get("Auth")
    auth = own if own is not None else (template.get("Globals", {}).get("HttpApi") or {}).get("Auth")
    return auth or {}


def _event_api_id(function: str, event_props: Mapping[str, Any]) -> str:
    api = event_props.get("ApiId")
    if api is None:
        return IMPLICIT_HTTP_API
    if isinstance(api, dict) and list(api) == ["Ref"] and isinstance(api["Ref"], str):
        return api["Ref"]
    raise ValueError(f"{function}: an HttpApi event's ApiId must be `!Ref <HttpApi>`, not {api!r}")


@cache
def http_routes(path: Path = TEMPLATE_PATH) -> tuple[HttpRoute, ...]:
    """Every HttpApi event of every function in the template, with the authorizer that guards it."""
    template = load_template(path)
    global_handler = template.get("Globals", {}).get("Function", {}).get("Handler")
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", LAMBDA_DEFAULT_TIMEOUT_S)
    routes: list[HttpRoute] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        handler = props.get("Handler", global_handler)
        timeout = props.get("Timeout", global_timeout)
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties", {})
            auth = _http_api_auth(template, _event_api_id(logical_id, event_props))
            authorizer = (event_props.get("Auth") or {}).get("Authorizer", auth.get("DefaultAuthorizer"))
            if authorizer not in (None, NO_AUTHORIZER) and authorizer not in (auth.get("Authorizers") or {}):
                raise ValueError(f"{logical_id}: authorizer {authorizer!r} is not one of its HttpApi's")
            # No Path and no Method: SAM's $default route, for every request no other route matches.
            is_default = "Path" not in event_props and "Method" not in event_props
            routes.append(
                HttpRoute(
                    function=logical_id,
                    handler=handler,
                    method="ANY" if is_default else str(event_props["Method"]).upper(),
                    path=DEFAULT_ROUTE if is_default else str(event_props["Path"]),
                    authorizer=None if authorizer in (None, NO_AUTHORIZER) else str(authorizer),
                    timeout_s=timeout if isinstance(timeout, int) else None,
                )
            )
    return tuple(routes)


CONSOLE_FUNCTION: Final = "ConsoleFunction"  # the console's page and files (README, Console)


def api_operations(path: Path = TEMPLATE_PATH) -> tuple[HttpRoute, ...]:
    """The routes that are operations of the API (its OpenAPI document, the fuzzer's): all but the $default route
    (every request no other route matches) and the console's page and files (a browser's, not a client's)."""
    return tuple(r for r in http_routes(path) if r.path != DEFAULT_ROUTE and r.function != CONSOLE_FUNCTION)


def _function_arn_target(name: str, arn: Any) -> str:
    """The logical id of `!GetAtt <Function>.Arn`."""
    if isinstance(arn, dict) and list(arn) == ["Fn::GetAtt"]:
        target = arn["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and len(target) == 2 and target[1] == "Arn":
            return str(target[0])
    raise ValueError(f"authorizer {name}: FunctionArn must be `!GetAtt <Function>.Arn` of this template")


@cache
def http_authorizers(path: Path = TEMPLATE_PATH) -> dict[str, LambdaAuthorizer]:
    """The Lambda authorizers the template's routes use, by name.

    Only what the local server can emulate like API Gateway is accepted: a function of this template, payload
    format 2.0 with simple responses. Anything else used by a route (a JWT authorizer, IAM policies in responses)
    raises ValueError rather than being served without authorization.
    """
    template = load_template(path)
    resources = template.get("Resources", {})
    globals_ = template.get("Globals", {}).get("Function", {})
    resolver = _Resolver(template, region="us-east-1")
    used = {r.authorizer for r in http_routes(path) if r.authorizer is not None}
    found: dict[str, LambdaAuthorizer] = {}
    api_ids = [i for i, r in resources.items() if r.get("Type") == "AWS::Serverless::HttpApi"]
    for api_id in [*api_ids, IMPLICIT_HTTP_API]:
        for name, config in ((_http_api_auth(template, api_id).get("Authorizers")) or {}).items():
            if name not in used:
                continue
            authorizer = _lambda_authorizer(name, config, resources, globals_, resolver)
            if found.get(authorizer.name, authorizer) != authorizer:
                raise ValueError(f"two HttpApis declare different authorizers named {name}")
            found[authorizer.name] = authorizer
    missing = used - set(found)
    if missing:
        raise ValueError(f"routes use undeclared authorizers: {sorted(missing)}")
    return found


def _lambda_authorizer(
    name: str,
    config: Mapping[str, Any],
    resources: Mapping[str, Any],
    globals_: Mapping[str, Any],
    resolver: _Resolver,
) -> LambdaAuthorizer:
    """The authorizer `name` of an HttpApi's Auth (`config`); ValueError when it cannot be emulated locally."""
    if "FunctionArn" not in config:
        raise ValueError(f"authorizer {name}: only Lambda authorizers are emulated locally (no JWT)")
    function = _function_arn_target(name, config["FunctionArn"])
    fn_resource = resources.get(function) or {}
    if fn_resource.get("Type") != "AWS::Serverless::Function":
        raise ValueError(f"authorizer {name}: {function} is not an AWS::Serverless::Function")
    fn_props = fn_resource.get("Properties", {})
    version = str(config.get("AuthorizerPayloadFormatVersion", ""))
    simple = bool(config.get("EnableSimpleResponses", False))
    if version != "2.0" or not simple:
        raise ValueError(f"authorizer {name}: only payload format 2.0 with simple responses is emulated locally")
    identity = config.get("Identity") or {}
    ttl_value = _reauthorize_every(name, identity, resolver)
    return LambdaAuthorizer(
        name=str(name),
        function=function,
        handler=str(fn_props.get("Handler", globals_.get("Handler"))),
        payload_format_version=version,
        simple_responses=simple,
        identity_headers=tuple(str(h) for h in identity.get("Headers") or ()),
        identity_query_strings=tuple(str(q) for q in identity.get("QueryStrings") or ()),
        # Unset: SAM leaves the TTL out; treat it as no cache (every request asks the authorizer).
        ttl_seconds=int(float(ttl_value)) if ttl_value else 0,
        timeout_s=int(fn_props.get("Timeout", globals_.get("Timeout", 3))),
    )


def _reauthorize_every(name: str, identity: Mapping[str, Any], resolver: _Resolver) -> Any:
    """The Identity's ReauthorizeEvery resolved (None when unset); ValueError for Identity keys not emulated."""
    unsupported = set(identity) - {"Headers", "QueryStrings", "ReauthorizeEvery"}
    if unsupported:
        raise ValueError(f"authorizer {name}: Identity {sorted(unsupported)} is not emulated locally")
    ttl = identity.get("ReauthorizeEvery")
    try:
        ttl_value = resolver.value(ttl) if ttl is not None else None
    except _UnresolvableError:
        message = f"authorizer {name}: ReauthorizeEvery must be a number or `!Ref <Parameter>`"
        raise ValueError(message) from None
    return ttl_value


def table_properties(path: Path = TEMPLATE_PATH, logical_id: str = "MemoryTable") -> dict[str, Any]:
    """The `Properties` of the DynamoDB table resource, each `!Ref` of a parameter replaced by its Default (what a
    stack deployed without overrides has: e.g. the listing indexes' projection)."""
    template = load_template(path)
    resource = template["Resources"][logical_id]
    if resource.get("Type") != "AWS::DynamoDB::Table":
        raise ValueError(f"{logical_id} is not an AWS::DynamoDB::Table")
    defaults = {name: p["Default"] for name, p in template.get("Parameters", {}).items() if "Default" in p}
    props: dict[str, Any] = _with_defaults(resource["Properties"], defaults)
    return props


def _with_defaults(value: Any, defaults: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in defaults:
            return defaults[value["Ref"]]
        return {k: _with_defaults(v, defaults) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_defaults(v, defaults) for v in value]
    return value


# ------------------------------------------------------------------------------------------ stream consumers


@dataclass(frozen=True)
class StreamConsumer:
    """A function's `Type: DynamoDB` event on the table's stream, as the local stream driver needs it."""

    function: str  # logical id in the template
    handler: str  # "package.module.function"
    table: str  # logical id of the table whose stream it reads
    batch_size: int
    starting_position: str  # TRIM_HORIZON or LATEST
    filter_patterns: tuple[dict[str, Any], ...]  # parsed FilterCriteria patterns; empty = every record
    maximum_retry_attempts: int | None  # None: not set (-1 on AWS: retry until the record expires)
    bisect_on_error: bool
    report_batch_item_failures: bool
    timeout_s: int  # the function's Timeout (Globals applied)


_DYNAMODB_BATCH_SIZE_DEFAULT = 100  # Lambda's default for DynamoDB event sources


def _stream_table(stream: Any) -> str | None:
    """The table logical id of `!GetAtt Table.StreamArn`, else None."""
    if isinstance(stream, dict) and list(stream) == ["Fn::GetAtt"]:
        target = stream["Fn::GetAtt"]
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and len(target) == 2 and target[1] == "StreamArn":
            return str(target[0])
    return None


@cache
def stream_consumers(path: Path = TEMPLATE_PATH) -> tuple[StreamConsumer, ...]:
    """Every `Type: DynamoDB` event (on a table of this template) of every function."""
    template = load_template(path)
    globals_ = template.get("Globals", {}).get("Function", {})
    consumers: list[StreamConsumer] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        for event in props.get("Events", {}).values():
            if event.get("Type") != "DynamoDB":
                continue
            event_props = event.get("Properties", {})
            table = _stream_table(event_props.get("Stream"))
            if table is None:
                raise ValueError(f"{logical_id}: a DynamoDB event must read `!GetAtt <Table>.StreamArn`")
            filters = (event_props.get("FilterCriteria") or {}).get("Filters") or []
            patterns = tuple(_filter_pattern(logical_id, f.get("Pattern")) for f in filters)
            retries = event_props.get("MaximumRetryAttempts")
            consumers.append(
                StreamConsumer(
                    function=logical_id,
                    handler=str(props.get("Handler", globals_.get("Handler"))),
                    table=table,
                    batch_size=int(event_props.get("BatchSize", _DYNAMODB_BATCH_SIZE_DEFAULT)),
                    starting_position=str(event_props.get("StartingPosition", "TRIM_HORIZON")),
                    filter_patterns=patterns,
                    maximum_retry_attempts=None if retries is None or int(retries) < 0 else int(retries),
                    bisect_on_error=bool(event_props.get("BisectBatchOnFunctionError", False)),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (event_props.get("FunctionResponseTypes") or []),
                    timeout_s=int(props.get("Timeout", globals_.get("Timeout", 3))),
                )
            )
    return tuple(consumers)


def _filter_pattern(function: str, pattern: Any) -> dict[str, Any]:
    if not isinstance(pattern, str):
        raise ValueError(f"{function}: a FilterCriteria pattern must be a JSON string, not {pattern!r}")
    parsed = json.loads(pattern)
    if not isinstance(parsed, dict):
        raise ValueError(f"{function}: a FilterCriteria pattern must be a JSON object: {pattern}")
    return parsed


def function_environment(logical_id: str, path: Path = TEMPLATE_PATH, *, region: str = "us-east-1") -> dict[str, str]:
    """The function-level `Environment.Variables` with the template's parameter defaults, where they resolve.

    Understands literals, `!Ref <Parameter>` (its Default), `!Ref AWS::Region` and `!If` on conditions built from
    `!Equals`/`!Not`/`!And`/`!Or` over those; a variable that uses anything else (or `AWS::NoValue`) is left out.
    """
    template = load_template(path)
    props = template["Resources"][logical_id].get("Properties", {})
    variables = (props.get("Environment") or {}).get("Variables") or {}
    resolver = _Resolver(template, region)
    resolved: dict[str, str] = {}
    for name, value in variables.items():
        try:
            result = resolver.value(value)
        except _UnresolvableError:
            continue
        if result is not None:
            resolved[str(name)] = result
    return resolved


def deployed_by_default(logical_id: str, path: Path = TEMPLATE_PATH, *, region: str = "us-east-1") -> bool:
    """Whether the resource exists in a stack deployed with the parameters' defaults (its `Condition`, if any)."""
    template = load_template(path)
    condition = template["Resources"][logical_id].get("Condition")
    return condition is None or _Resolver(template, region).condition(condition)


class _UnresolvableError(Exception):
    pass


class _Resolver:
    """Just enough of CloudFormation's intrinsics to give parameter defaults to a function's environment."""

    def __init__(self, template: Mapping[str, Any], region: str) -> None:
        self.parameters: Mapping[str, Any] = template.get("Parameters", {})
        self.conditions: Mapping[str, Any] = template.get("Conditions", {})
        self.region = region

    def value(self, node: Any) -> str | None:
        """A string, or None for AWS::NoValue."""
        if isinstance(node, bool):
            return "true" if node else "false"
        if isinstance(node, str | int | float):
            return str(node)
        if isinstance(node, dict) and len(node) == 1:
            [(fn, arg)] = node.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
                return self.value(arg[1] if self.condition(arg[0]) else arg[2])
        raise _UnresolvableError(node)

    def _ref(self, name: Any) -> str | None:
        if name == "AWS::NoValue":
            return None
        if name == "AWS::Region":
            return self.region
        parameter = self.parameters.get(name)
        if isinstance(parameter, dict) and "Default" in parameter:
            return self.value(parameter["Default"])
        raise _UnresolvableError(name)

    def condition(self, node: Any) -> bool:
        if isinstance(node, str):
            if node not in self.conditions:
                raise _UnresolvableError(node)
            return self.condition(self.conditions[node])
        if isinstance(node, dict) and len(node) == 1:
            [(fn, arg)] = node.items()
            if fn == "Condition":
                return self.condition(arg)
            if fn == "Fn::Equals" and isinstance(arg, list) and len(arg) == 2:
                return self.value(arg[0]) == self.value(arg[1])
            if fn == "Fn::Not" and isinstance(arg, list) and len(arg) == 1:
                return not self.condition(arg[0])
            if fn == "Fn::And" and isinstance(arg, list):
                return all(self.condition(c) for c in arg)
            if fn == "Fn::Or" and isinstance(arg, list):
                return any(self.condition(c) for c in arg)
        raise _UnresolvableError(node)
