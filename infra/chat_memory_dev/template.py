"""Read template.yaml, the single source of truth for routes, handlers and the table's keys."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class HttpRoute:
    function: str  # logical id in the template
    handler: str  # "package.module.function"
    method: str  # upper case
    path: str  # API Gateway form, e.g. /api/v2/sessions/{sessionId}/memory


@cache
def http_routes(path: Path = TEMPLATE_PATH) -> tuple[HttpRoute, ...]:
    """Every HttpApi event of every function in the template."""
    template = load_template(path)
    global_handler = template.get("Globals", {}).get("Function", {}).get("Handler")
    routes: list[HttpRoute] = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        props = resource.get("Properties", {})
        handler = props.get("Handler", global_handler)
        for event in props.get("Events", {}).values():
            if event.get("Type") != "HttpApi":
                continue
            event_props = event.get("Properties", {})
            routes.append(
                HttpRoute(
                    function=logical_id,
                    handler=handler,
                    method=str(event_props["Method"]).upper(),
                    path=str(event_props["Path"]),
                )
            )
    return tuple(routes)


def table_properties(path: Path = TEMPLATE_PATH, logical_id: str = "MemoryTable") -> dict[str, Any]:
    """The `Properties` of the DynamoDB table resource."""
    resource = load_template(path)["Resources"][logical_id]
    if resource.get("Type") != "AWS::DynamoDB::Table":
        raise ValueError(f"{logical_id} is not an AWS::DynamoDB::Table")
    props: dict[str, Any] = resource["Properties"]
    return props
