"""Plain values <-> DynamoDB attribute values (boto3's TypeSerializer/TypeDeserializer: str: S, int: N, bool: BOOL;
None leaves the attribute out). Apart from items.py, which maps the domain's objects, so that what needs only
attributes (the table, the authorizer's tenant settings) does not build the domain's models on a cold start."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from chat_memory.adapters.dynamodb import keys

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]
Value = str | int | bool | None

_SERIALIZER = TypeSerializer()
_DESERIALIZER = TypeDeserializer()


def to_item(values: Mapping[str, Value]) -> Item:
    """Attribute values (an item, a key or an expression's values) of plain values; None: no such attribute."""
    return {name: _SERIALIZER.serialize(v) for name, v in values.items() if v is not None}


def from_item(item: Mapping[str, Any]) -> dict[str, Any]:
    """The plain values of an item (numbers as Decimal)."""
    return {name: _DESERIALIZER.deserialize(value) for name, value in item.items()}


def sort_key(item: Mapping[str, Any]) -> str:
    return str(item[keys.TABLE_SORT_KEY]["S"])
