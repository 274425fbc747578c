"""DynamoDB for local runs: the table from template.yaml, in an embedded moto server or at a given endpoint.

Embedded mode starts moto's DynamoDB on 127.0.0.1 (a free port) inside this process, with this package's engine
(chat_memory_dev.localdb.engine) installed: every API call atomic (real DynamoDB runs each call atomically; moto
alone does not promise that across threads, and our writers rely on conditional writes and transactions), costs
that do not grow with the table, and, with a data folder, durable (chat_memory_dev.localdb.persistence).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

from chat_memory_dev.template import table_properties

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from werkzeug.serving import BaseWSGIServer

    from chat_memory_dev.localdb.persistence import DataDir, LoadReport

ENDPOINT_ENV: Final = "AWS_ENDPOINT_URL_DYNAMODB"
DUMMY_AWS_ENV: Final[Mapping[str, str]] = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# The CloudFormation properties of AWS::DynamoDB::Table that map onto CreateTable as they are. The others
# (TableName, TimeToLiveSpecification, PointInTimeRecoverySpecification, SSESpecification, Tags,
# DeletionProtectionEnabled, ContributorInsightsSpecification, KinesisStreamSpecification, ...) are either
# handled separately or irrelevant to a local table.
_INDEX_KEYS: Final = ("IndexName", "KeySchema", "Projection")
_GSI_KEYS: Final = (*_INDEX_KEYS, "ProvisionedThroughput", "OnDemandThroughput")


def ensure_dummy_aws_env() -> None:
    """Dummy credentials and region for local endpoints: set only the variables the user has not set."""
    for name, value in DUMMY_AWS_ENV.items():
        os.environ.setdefault(name, value)


def _contains_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k == "Ref" or k.startswith("Fn::") for k in value) or any(
            _contains_intrinsic(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(_contains_intrinsic(v) for v in value)
    return False


def _literal(props: Mapping[str, Any], name: str) -> Any:
    value = props.get(name)
    if _contains_intrinsic(value):
        raise ValueError(f"MemoryTable property {name} uses an intrinsic function; a local table needs literals")
    return value


def create_table_kwargs(table_name: str, props: Mapping[str, Any]) -> dict[str, Any]:
    """CreateTable arguments from the CloudFormation `Properties` of an AWS::DynamoDB::Table."""
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": _literal(props, "AttributeDefinitions"),
        "KeySchema": _literal(props, "KeySchema"),
    }
    billing = props.get("BillingMode", "PROVISIONED")
    if _contains_intrinsic(billing):  # e.g. !If on a parameter: on-demand is right for a local table
        billing = "PAY_PER_REQUEST"
    kwargs["BillingMode"] = billing
    if billing == "PROVISIONED":
        kwargs["ProvisionedThroughput"] = _literal(props, "ProvisionedThroughput") or {
            "ReadCapacityUnits": 5,
            "WriteCapacityUnits": 5,
        }
    lsis = _literal(props, "LocalSecondaryIndexes")
    if lsis:
        kwargs["LocalSecondaryIndexes"] = [{k: i[k] for k in _INDEX_KEYS if k in i} for i in lsis]
    gsis = _literal(props, "GlobalSecondaryIndexes")
    if gsis:
        gsi_keys = _GSI_KEYS if billing == "PROVISIONED" else _INDEX_KEYS
        kwargs["GlobalSecondaryIndexes"] = [{k: i[k] for k in gsi_keys if k in i} for i in gsis]
    stream = props.get("StreamSpecification")
    if stream and not _contains_intrinsic(stream) and stream.get("StreamViewType"):
        kwargs["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": stream["StreamViewType"]}
    return kwargs


def create_table_from_template(
    client: DynamoDBClient, table_name: str, *, properties: Mapping[str, Any] | None = None
) -> bool:
    """Create `table_name` as template.yaml's MemoryTable declares it, unless it exists; wait until ACTIVE.

    Enables TTL when the template has a TimeToLiveSpecification. Returns True when this call created the table.
    """
    props = table_properties() if properties is None else properties
    created = True
    try:
        client.create_table(**create_table_kwargs(table_name, props))
    except client.exceptions.ResourceInUseException:  # exists already, or is being created
        created = False
    client.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    ttl = props.get("TimeToLiveSpecification")
    if ttl and not _contains_intrinsic(ttl) and ttl.get("Enabled") and ttl.get("AttributeName"):
        status = client.describe_time_to_live(TableName=table_name)["TimeToLiveDescription"]
        if status.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
    return created


class EmbeddedDynamoDB:
    """moto's DynamoDB served over HTTP on a loopback port, from a background thread of this process."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise RuntimeError("EmbeddedDynamoDB is not started")
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> str:
        """Start serving; returns the endpoint URL."""
        if self._server is not None:
            return self.endpoint_url
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from chat_memory_dev.localdb.engine import install

        install()

        class _QuietHandler(MotoRequestHandler):
            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                pass  # one line per DynamoDB call is noise; errors are still logged

        app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._host, self._port, app, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="embedded-dynamodb", kwargs={"poll_interval": 0.2}
        )
        self._thread.daemon = True
        self._thread.start()
        return self.endpoint_url

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> EmbeddedDynamoDB:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _is_loopback(endpoint_url: str) -> bool:
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class LocalDynamoDB:
    """The DynamoDB the local server uses, with its table created; `data` is the embedded one's data folder."""

    endpoint_url: str
    table_name: str
    embedded: EmbeddedDynamoDB | None
    data: DataDir | None = None
    loaded: LoadReport | None = None

    @property
    def description(self) -> str:
        return "embedded moto" if self.embedded is not None else self.endpoint_url

    def close(self, *, compact: bool = True) -> None:
        """Stop the embedded server, then close its data folder (with a new snapshot when `compact`)."""
        if self.embedded is not None:
            self.embedded.stop()
            if os.environ.get(ENDPOINT_ENV) == self.endpoint_url:
                del os.environ[ENDPOINT_ENV]
        if self.data is not None:
            self.data.close(compact=compact)


def fill_in_loopback_credentials(endpoint_url: str) -> None:
    """For a loopback endpoint (DynamoDB Local, a moto server) and no configured credentials: dummy ones.

    A user-given endpoint may be real AWS: then the credentials chain is left alone. A region is filled in when
    none is configured.
    """
    import boto3

    if not endpoint_url.strip():
        return
    session = boto3.session.Session()
    if _is_loopback(endpoint_url) and session.get_credentials() is None:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", DUMMY_AWS_ENV["AWS_ACCESS_KEY_ID"])
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", DUMMY_AWS_ENV["AWS_SECRET_ACCESS_KEY"])
    if session.region_name is None:
        os.environ.setdefault("AWS_DEFAULT_REGION", DUMMY_AWS_ENV["AWS_DEFAULT_REGION"])


class DataDirConflictError(ValueError):
    """A data folder was asked for, but the DynamoDB is not the embedded one."""


def start_local_dynamodb(table_name: str, data_dir: Path | None = None) -> LocalDynamoDB:
    """Use $AWS_ENDPOINT_URL_DYNAMODB when set, else start an embedded moto and point the variable at it.

    The embedded moto keeps its tables in `data_dir` (loaded now, journaled from now on) or, without one, in memory
    only. Every boto3 client created afterwards in this process (the handlers create theirs lazily) then talks to
    that endpoint. The table is created from template.yaml when missing.
    """
    import boto3

    from chat_memory import __version__
    from chat_memory_dev.localdb.engine import install
    from chat_memory_dev.localdb.persistence import DataDir

    embedded: EmbeddedDynamoDB | None = None
    data: DataDir | None = None
    loaded: LoadReport | None = None
    endpoint = os.environ.get(ENDPOINT_ENV, "").strip()
    if endpoint:
        if data_dir is not None:
            raise DataDirConflictError(
                f"{ENDPOINT_ENV} is set: the data lives in that DynamoDB, not in a data folder ({data_dir})"
            )
        # A user-given endpoint may be real AWS: keep their credentials chain, and fill in dummies only for a
        # loopback endpoint (DynamoDB Local, a moto server) when no credentials are configured at all.
        fill_in_loopback_credentials(endpoint)
    else:
        ensure_dummy_aws_env()
        install()
        if data_dir is not None:
            data = DataDir.open(data_dir, __version__)
            try:
                loaded = data.load()
                data.start_journal()
            except BaseException:
                data.close(compact=False)
                raise
        embedded = EmbeddedDynamoDB()
        endpoint = embedded.start()
        os.environ[ENDPOINT_ENV] = endpoint
    db = LocalDynamoDB(endpoint_url=endpoint, table_name=table_name, embedded=embedded, data=data, loaded=loaded)
    try:
        client = boto3.client("dynamodb", endpoint_url=endpoint)
        create_table_from_template(client, table_name)
    except BaseException:
        db.close(compact=False)
        raise
    return db


@contextlib.contextmanager
def local_dynamodb(table_name: str) -> Iterator[LocalDynamoDB]:
    db = start_local_dynamodb(table_name)
    try:
        yield db
    finally:
        db.close()
