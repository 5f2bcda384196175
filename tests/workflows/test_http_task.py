"""The HTTP task (``arn:aws:states:::http:invoke``) against a real local HTTP server and the real
test Redis: the request Step Functions sends, AWS's result and failures, the connection's auth,
deadline, body cap and shared rate limit."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from targets.conftest import HttpServer, Received, Reply

from eventbus.client import AsyncEventBusClient
from eventbus.connections import ConnectionSpec, connection_arn
from eventbus.errors import StatesError, TaskFailed
from eventbus.workflows.http_request import url_encode
from eventbus.workflows.http_task import IDEMPOTENCY_HEADER, invoke_http
from eventbus.workflows.task_services import TaskServices

ARN = "arn:aws:states:us-east-1:000000000000:execution:m:e1"
TOKEN = "token-1"
SECRET = "s3cr3t-Value-9f8e"


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


@pytest.fixture
async def services(redis_url: str) -> AsyncIterator[TaskServices]:
    client = aioredis.Redis.from_url(redis_url)
    publisher = AsyncEventBusClient(client)
    services = TaskServices(
        redis=client,
        publish=publisher.put_events,
        connections={"plain": ConnectionSpec(name="plain")},
    )
    yield services
    await services.aclose()
    await client.aclose()


def connect(services: TaskServices, **spec: Any) -> str:
    """Declare one more connection; its ARN."""
    connection = ConnectionSpec.model_validate({"name": "c", **spec})
    services.set_connections({"plain": ConnectionSpec(name="plain"), "c": connection})
    return connection_arn("c")


def task(server: HttpServer, path: str = "/api", arn: str | None = None, **fields: Any) -> dict:
    return {
        "ApiEndpoint": f"{server.url}{path}",
        "Method": "GET",
        "Authentication": {"ConnectionArn": arn or connection_arn("plain")},
        **fields,
    }


async def failure(task_input: Any, services: TaskServices) -> StatesError:
    with pytest.raises(StatesError) as caught:
        await invoke_http(task_input, ARN, TOKEN, services)
    return caught.value


# --- the request ------------------------------------------------------------------------------


async def test_the_result_has_aws_shape_with_a_json_body_parsed(
    http_server: HttpServer, services: TaskServices
) -> None:
    http_server.answer("/api", Reply(200, {"id": 7}, {"X-Multi": "a"}))
    result = await invoke_http(task(http_server), ARN, TOKEN, services)
    assert set(result) == {"Headers", "ResponseBody", "StatusCode", "StatusText"}
    assert (result["StatusCode"], result["StatusText"]) == (200, "OK")
    assert result["ResponseBody"] == {"id": 7}
    assert result["Headers"]["content-type"] == ["application/json"]
    assert result["Headers"]["x-multi"] == ["a"]


async def test_a_body_that_is_not_json_is_given_as_text(
    http_server: HttpServer, services: TaskServices
) -> None:
    http_server.answer("/api", Reply(200, b"plain words", {"Content-Type": "text/plain"}))
    result = await invoke_http(task(http_server), ARN, TOKEN, services)
    assert result["ResponseBody"] == "plain words"


async def test_query_parameters_join_the_endpoints_own_query(
    http_server: HttpServer, services: TaskServices
) -> None:
    fields = {"QueryParameters": {"q": "shoes", "n": 2, "tag": ["a", "b"]}}
    await invoke_http(task(http_server, "/api?v=1", **fields), ARN, TOKEN, services)
    [request] = http_server.received
    assert request.query == {"v": ["1"], "q": ["shoes"], "n": ["2"], "tag": ["a", "b"]}


async def test_the_task_token_is_the_idempotency_key(
    http_server: HttpServer, services: TaskServices
) -> None:
    await invoke_http(task(http_server), ARN, TOKEN, services)
    await invoke_http(task(http_server, Headers={IDEMPOTENCY_HEADER: "mine"}), ARN, TOKEN, services)
    first, second = http_server.received
    assert first.headers[IDEMPOTENCY_HEADER.lower()] == TOKEN
    assert second.headers[IDEMPOTENCY_HEADER.lower()] == "mine"


async def test_a_json_request_body_is_sent_as_json(
    http_server: HttpServer, services: TaskServices
) -> None:
    fields = {"Method": "POST", "RequestBody": {"a": [1, "x"]}, "Headers": {"X-Tenant": 5}}
    await invoke_http(task(http_server, **fields), ARN, TOKEN, services)
    [request] = http_server.received
    assert (request.method, request.json()) == ("POST", {"a": [1, "x"]})
    assert request.headers["content-type"] == "application/json; charset=UTF-8"
    assert request.headers["x-tenant"] == "5"


async def test_a_url_encoded_body_is_sent_as_a_form(
    http_server: HttpServer, services: TaskServices
) -> None:
    fields = {
        "Method": "POST",
        "RequestBody": {"name": "Ada L", "ids": [1, 2]},
        "Transform": {
            "RequestBodyEncoding": "URL_ENCODED",
            "RequestEncodingOptions": {"ArrayFormat": "REPEAT"},
        },
    }
    await invoke_http(task(http_server, **fields), ARN, TOKEN, services)
    [request] = http_server.received
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == b"name=Ada+L&ids=1&ids=2"


@pytest.mark.parametrize(
    ("array_format", "form"),
    [
        ("INDICES", "a%5B0%5D=x&a%5B1%5D=y&o%5Bk%5D=v"),
        ("REPEAT", "a=x&a=y&o%5Bk%5D=v"),
        ("COMMAS", "a=x,y&o%5Bk%5D=v"),
        ("BRACKETS", "a%5B%5D=x&a%5B%5D=y&o%5Bk%5D=v"),
    ],
)
def test_array_formats_of_a_url_encoded_body(array_format: str, form: str) -> None:
    assert url_encode({"a": ["x", "y"], "o": {"k": "v"}}, array_format) == form


async def test_get_sends_no_body(http_server: HttpServer, services: TaskServices) -> None:
    await invoke_http(task(http_server, RequestBody={"a": 1}), ARN, TOKEN, services)
    [request] = http_server.received
    assert request.body == b""


@pytest.mark.parametrize(
    "fields",
    [
        {"Method": "FETCH"},
        {"ApiEndpoint": "ftp://example.com/x"},
        {"Headers": {"Authorization": "Bearer x"}},
        {"Headers": {"X-Amz-Date": "now"}},
        {"Headers": {"X-Bad": "line\nbreak"}},
        {"Authentication": None},
        {"Transform": {"RequestBodyEncoding": "XML"}, "Method": "POST", "RequestBody": {}},
    ],
)
async def test_a_request_that_can_never_be_sent_fails_with_states_runtime(
    http_server: HttpServer, services: TaskServices, fields: dict[str, Any]
) -> None:
    error = await failure(task(http_server, **fields), services)
    assert error.error == "States.Runtime"
    assert http_server.received == []


# --- answers and failures ---------------------------------------------------------------------


async def test_a_status_outside_2xx_fails_with_its_code_and_the_result_as_cause(
    http_server: HttpServer, services: TaskServices
) -> None:
    http_server.answer("/api", Reply(404, {"message": "no such order"}))
    error = await failure(task(http_server), services)
    assert isinstance(error, TaskFailed)
    assert error.error == "States.Http.StatusCode.404"
    cause = orjson.loads(error.cause or "")
    assert cause["StatusCode"] == 404
    assert (cause["StatusText"], cause["ResponseBody"]) == (
        "Not Found",
        {"message": "no such order"},
    )


async def test_an_unknown_connection_fails_as_resource_not_found(
    http_server: HttpServer, services: TaskServices
) -> None:
    for arn in (connection_arn("nope"), "arn:aws:lambda:us-east-1:1:function:f"):
        error = await failure(task(http_server, arn=arn), services)
        assert error.error == "Events.ConnectionResource.ResourceNotFound"
        assert arn in (error.cause or "")
    assert http_server.received == []


async def test_an_aws_connection_arn_with_its_uuid_names_the_connection(
    http_server: HttpServer, services: TaskServices
) -> None:
    arn = "arn:aws:events:eu-west-1:123456789012:connection/plain/0f4c2b9e-1d2a-4c1e-9e55-7a1b"
    result = await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    assert result["StatusCode"] == 200


async def test_no_answer_within_the_deadline_fails_with_states_http_socket(
    http_server: HttpServer, services: TaskServices
) -> None:
    arn = connect(services, timeout_seconds=0.2)
    http_server.answer("/api", Reply(200, b"late", delay=1.0))
    error = await failure(task(http_server, arn=arn), services)
    assert error.error == "States.Http.Socket"
    assert "within 0.2 s" in (error.cause or "")


async def test_an_unreachable_endpoint_fails_with_states_http_socket(
    services: TaskServices,
) -> None:
    server = HttpServer()
    server.close()  # its port now refuses connections
    error = await failure(task(server), services)
    assert error.error == "States.Http.Socket"


async def test_an_answer_over_the_cap_fails_with_data_limit_exceeded(
    http_server: HttpServer, services: TaskServices
) -> None:
    http_server.answer("/api", Reply(200, b"x" * 65536, repeat=32))  # 2 MiB
    error = await failure(task(http_server), services)
    assert error.error == "States.DataLimitExceeded"


# --- the connection: auth and rate limit ------------------------------------------------------


async def test_basic_auth_comes_from_the_environment(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_PASSWORD", SECRET)
    arn = connect(
        services, auth={"type": "basic", "username": "bus", "password_env": "SHOP_PASSWORD"}
    )
    await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    [request] = http_server.received
    expected = base64.b64encode(f"bus:{SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {expected}"


async def test_the_connections_api_key_wins_over_the_tasks_header(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_KEY", SECRET)
    arn = connect(
        services, auth={"type": "api_key", "header": "x-api-key", "value_env": "SHOP_KEY"}
    )
    await invoke_http(
        task(http_server, arn=arn, Headers={"x-api-key": "guess"}), ARN, TOKEN, services
    )
    [request] = http_server.received
    assert request.headers["x-api-key"] == SECRET


async def test_a_missing_secret_fails_as_an_invalid_connection_state(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    arn = connect(services, auth={"type": "bearer", "token_env": "NO_SUCH_TOKEN"})
    error = await failure(task(http_server, arn=arn), services)
    assert error.error == "Events.ConnectionResource.InvalidConnectionState"
    assert "NO_SUCH_TOKEN" in (error.cause or "")
    assert http_server.received == []


class OAuthServer:
    """A token endpoint on the test server: counts tokens issued; /api wants the latest one."""

    def __init__(self, server: HttpServer) -> None:
        self.issued = 0
        server.answer("/token", self._token)
        server.answer("/api", self._api)

    def _token(self, request: Received) -> Reply:
        self.issued += 1
        return Reply(200, {"access_token": f"tok-{self.issued}", "expires_in": 3600})

    def _api(self, request: Received) -> Reply:
        fresh = request.headers.get("authorization") == f"Bearer tok-{self.issued}"
        return Reply(200, {"ok": True}) if fresh else Reply(401, b"expired")


async def test_an_oauth_token_is_fetched_once_and_refreshed_on_401(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_SECRET", SECRET)
    oauth = OAuthServer(http_server)
    auth = {
        "type": "oauth_client_credentials",
        "token_url": f"{http_server.url}/token",
        "client_id": "bus",
        "client_secret_env": "CLIENT_SECRET",
    }
    arn = connect(services, auth=auth)
    for _ in range(2):
        assert (await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services))["ResponseBody"]
    assert oauth.issued == 1
    oauth.issued += 1  # the endpoint now wants a token not yet issued: the cached one gets 401
    result = await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    assert (result["StatusCode"], oauth.issued) == (200, 3)


async def test_a_refused_oauth_token_fails_as_an_invalid_connection_state(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIENT_SECRET", SECRET)
    http_server.answer("/token", Reply(400, f"bad client {SECRET}".encode()))
    auth = {
        "type": "oauth_client_credentials",
        "token_url": f"{http_server.url}/token",
        "client_id": "bus",
        "client_secret_env": "CLIENT_SECRET",
    }
    error = await failure(task(http_server, arn=connect(services, auth=auth)), services)
    assert error.error == "Events.ConnectionResource.InvalidConnectionState"
    assert SECRET not in (error.cause or "")


async def test_the_connections_rate_limit_is_shared_through_redis(
    http_server: HttpServer, services: TaskServices
) -> None:
    # One request a second, and no more than 0.1 s to wait: the second call right after the
    # first finds its slot too far away.
    arn = connect(services, rate_limit_per_second=1, timeout_seconds=0.1)
    await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    error = await failure(task(http_server, arn=arn), services)
    assert error.error == "States.Http.Socket"
    assert "1 requests a second" in (error.cause or "")
    assert len(http_server.received) == 1


async def test_a_connection_changed_by_a_reload_is_rebuilt(
    http_server: HttpServer, services: TaskServices, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_KEY", SECRET)
    arn = connect(services, auth={"type": "api_key", "header": "x-old", "value_env": "SHOP_KEY"})
    await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    connect(services, auth={"type": "api_key", "header": "x-new", "value_env": "SHOP_KEY"})
    await invoke_http(task(http_server, arn=arn), ARN, TOKEN, services)
    first, second = http_server.received
    assert (first.headers.get("x-old"), second.headers.get("x-new")) == (SECRET, SECRET)
    assert "x-old" not in second.headers
