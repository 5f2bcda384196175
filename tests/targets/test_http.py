"""The http target against a real local HTTP server: request shape, parameters from the event,
each auth kind, retryable vs permanent answers, Retry-After, timeouts, the shared rate limit, and
no secret in errors or logs."""

from __future__ import annotations

import asyncio
import base64
import logging
import tracemalloc
from importlib.metadata import version
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventbus.errors import TargetError
from eventbus.targets.base import TargetServices
from eventbus.targets.http import HttpConfig, HttpTarget
from eventbus.targets.http_client import fetch, new_client
from eventbus.targets.http_response import RESPONSE_BODY_MAX_BYTES, Answer

from .conftest import EVENT, HttpServer, Received, Reply, make_ctx

SECRET = "s3cr3t-Value-9f8e"


def http_target(services: TargetServices | None = None, **settings: Any) -> HttpTarget:
    config = HttpConfig.model_validate(settings)
    return HttpTarget(config, services or TargetServices(redis=None, bus="shop", rule="orders"))


async def send(target: HttpTarget, payload: str = '{"a":1}', **ctx: Any) -> dict[str, Any] | None:
    try:
        return await target.send(payload, make_ctx(**ctx))
    finally:
        await target.aclose()


async def failure(target: HttpTarget, payload: str = "{}") -> TargetError:
    with pytest.raises(TargetError) as err:
        await send(target, payload)
    return err.value


# --- request shape --------------------------------------------------------------------------


async def test_posts_the_payload_with_the_standard_headers(http_server: HttpServer) -> None:
    outcome = await send(http_target(url=f"{http_server.url}/hook"), '{"a":1}')
    [request] = http_server.requests("/hook")
    assert (request.method, request.body) == ("POST", b'{"a":1}')
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"] == f"eventbus/{version('eventbus')}"
    assert request.headers["x-eventbus-delivery-id"] == f"{EVENT['id']}:shop:orders:t1"
    assert outcome == {"status": 200, "body": {"ok": True}}


async def test_the_example_rule_of_the_rules_issue_validates(http_server: HttpServer) -> None:
    config = HttpConfig.model_validate({"url": "http://localhost:8080/exports", "method": "POST"})
    assert (config.method, config.timeout_seconds) == ("POST", 5.0)


async def test_path_query_and_header_values_come_from_the_event(http_server: HttpServer) -> None:
    target = http_target(
        url=f"{http_server.url}/orders/*/items/*",
        path_parameters=["$.detail.id", "all/of them"],
        query={"customer": "$.detail.customer.name", "v": "2"},
        headers={"X-Total": "$.detail.total", "X-Static": "yes"},
    )
    event = {**EVENT, "detail": {**EVENT["detail"], "id": "o/42"}}
    await send(target, event=event)
    [request] = http_server.received
    assert request.path == "/orders/o%2F42/items/all%2Fof%20them"
    assert request.query == {"customer": ["Ada"], "v": ["2"]}
    assert (request.headers["x-total"], request.headers["x-static"]) == ("12.5", "yes")


async def test_a_parameter_path_missing_from_the_event_is_permanent(
    http_server: HttpServer,
) -> None:
    target = http_target(url=f"{http_server.url}/o/*", path_parameters=["$.detail.nope"])
    error = await failure(target)
    assert (error.retryable, error.code) == (False, "INVALID_HTTP_PARAMETER")
    assert http_server.received == []


async def test_get_sends_no_body(http_server: HttpServer) -> None:
    await send(http_target(url=f"{http_server.url}/g", method="GET"), '{"a":1}')
    [request] = http_server.received
    assert (request.method, request.body) == ("GET", b"")


def test_wildcards_and_path_parameters_must_pair_up() -> None:
    with pytest.raises(ValueError, match="1 `\\*` wildcard"):
        HttpConfig.model_validate({"url": "http://h/*", "path_parameters": []})


def test_unknown_settings_and_bad_paths_are_refused_when_rules_load() -> None:
    with pytest.raises(ValueError, match="extra"):
        HttpConfig.model_validate({"url": "http://h/", "password": "x"})
    with pytest.raises(ValueError, match=r"query\.q"):
        HttpConfig.model_validate({"url": "http://h/", "query": {"q": "$.a[-1]"}})


# --- answers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_429_and_5xx_are_retryable(http_server: HttpServer, status: int) -> None:
    http_server.answer("/x", Reply(status, b"busy"))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert (error.retryable, error.code, error.retry_after) == (True, f"HTTP_{status}", None)


@pytest.mark.parametrize("status", [301, 302, 400, 401, 403, 404, 409, 422])
async def test_other_statuses_are_permanent(http_server: HttpServer, status: int) -> None:
    http_server.answer("/x", Reply(status, b"no", {"Location": f"{http_server.url}/elsewhere"}))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert (error.retryable, error.code) == (False, f"HTTP_{status}")
    assert http_server.requests("/elsewhere") == []  # redirects are not followed


async def test_a_permanent_error_carries_a_bounded_excerpt_of_the_body(
    http_server: HttpServer,
) -> None:
    http_server.answer("/x", Reply(400, b"field 'total' is required; " + b"x" * 5000))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert "field 'total' is required" in str(error)
    assert len(str(error)) < 400


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0), ("soon", None)],
)
async def test_retry_after_is_passed_on(
    http_server: HttpServer, header: str, expected: float | None
) -> None:
    http_server.answer("/x", Reply(503, headers={"Retry-After": header}))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert (error.retryable, error.retry_after) == (True, expected)


async def test_retry_after_as_a_future_http_date(http_server: HttpServer) -> None:
    from datetime import UTC, datetime, timedelta
    from email.utils import format_datetime

    when = format_datetime(datetime.now(UTC) + timedelta(seconds=120), usegmt=True)
    http_server.answer("/x", Reply(429, headers={"Retry-After": when}))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert error.retry_after is not None and 100 < error.retry_after <= 120


async def test_a_negative_retry_after_stops_retrying(http_server: HttpServer) -> None:
    http_server.answer("/x", Reply(503, headers={"Retry-After": "-1"}))
    error = await failure(http_target(url=f"{http_server.url}/x"))
    assert (error.retryable, error.code) == (False, "HTTP_503")


async def test_a_slow_endpoint_times_out_retryably(http_server: HttpServer) -> None:
    http_server.answer("/slow", Reply(delay=1.0))
    error = await failure(http_target(url=f"{http_server.url}/slow", timeout_seconds=0.1))
    assert (error.retryable, error.code) == (True, "TIMEOUT")


async def test_connection_refused_is_retryable(http_server: HttpServer) -> None:
    url = http_server.url
    http_server.close()
    error = await failure(http_target(url=f"{url}/x"))
    assert (error.retryable, error.code) == (True, "CONNECTION_ERROR")


@pytest.mark.parametrize(
    ("reply", "body"),
    [
        (Reply(body={"run": 7}), {"run": 7}),
        (Reply(body=b"plain text", headers={"Content-Type": "text/plain"}), None),
        (Reply(body={"big": "x" * 5000}), None),
        (Reply(204), None),
    ],
)
async def test_outcome_has_the_status_and_small_json_bodies(
    http_server: HttpServer, reply: Reply, body: Any
) -> None:
    http_server.answer("/x", reply)
    outcome = await send(http_target(url=f"{http_server.url}/x"))
    assert outcome == {"status": reply.status, "body": body}


async def test_close_twice_and_send_after_close(http_server: HttpServer) -> None:
    target = http_target(url=f"{http_server.url}/x")
    await target.aclose()
    await target.aclose()
    with pytest.raises(TargetError, match="after aclose"):
        await target.send("{}", make_ctx())


# --- authorization ----------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


AUTH_CASES = [
    ({"type": "basic", "username": "eb", "password_env": "T_SECRET"}, "authorization", None),
    ({"type": "api_key", "header": "x-api-key", "value_env": "T_SECRET"}, "x-api-key", SECRET),
    ({"type": "bearer", "token_env": "T_SECRET"}, "authorization", f"Bearer {SECRET}"),
]


@pytest.mark.parametrize(("auth", "header", "expected"), AUTH_CASES)
async def test_static_auth_kinds_send_their_header(
    http_server: HttpServer,
    monkeypatch: pytest.MonkeyPatch,
    auth: dict[str, str],
    header: str,
    expected: str | None,
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    await send(http_target(url=f"{http_server.url}/x", auth=auth))
    [request] = http_server.received
    assert request.headers[header] == (expected or basic("eb", SECRET))


async def test_auth_headers_win_over_the_rules_headers(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    auth = {"type": "bearer", "token_env": "T_SECRET"}
    await send(http_target(url=http_server.url, auth=auth, headers={"Authorization": "mine"}))
    assert http_server.received[0].headers["authorization"] == f"Bearer {SECRET}"


async def test_a_missing_secret_variable_is_retryable_and_named(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_SECRET", raising=False)
    auth = {"type": "basic", "username": "eb", "password_env": "T_SECRET"}
    error = await failure(http_target(url=http_server.url, auth=auth))
    assert (error.retryable, error.code) == (True, "MISSING_SECRET")
    assert "T_SECRET" in str(error)
    assert http_server.received == []


async def test_a_secret_a_header_cannot_carry_is_retryable_and_not_shown(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET + "\n")  # as written by `echo` into a file
    auth = {"type": "bearer", "token_env": "T_SECRET"}
    error = await failure(http_target(url=http_server.url, auth=auth))
    assert (error.retryable, error.code) == (True, "INVALID_SECRET")
    assert "T_SECRET" in str(error) and SECRET not in str(error)
    assert http_server.received == []


def test_secrets_cannot_be_written_in_the_rule() -> None:
    with pytest.raises(ValueError, match="extra"):
        HttpConfig.model_validate(
            {"url": "http://h/", "auth": {"type": "basic", "username": "u", "password": "p"}}
        )


class OAuthServer:
    """A token endpoint issuing tok-1, tok-2, ... to client ``cid`` with secret SECRET, and an
    API accepting only the newest token."""

    def __init__(self, server: HttpServer) -> None:
        self.issued = 0
        server.answer("/token", self.token)
        server.answer("/api", self.api)

    def token(self, request: Received) -> Reply:
        form = request.body.decode()
        if request.headers.get("authorization") != basic("cid", SECRET):
            return Reply(401, {"error": "invalid_client"})
        if "grant_type=client_credentials" not in form:
            return Reply(400, {"error": "unsupported_grant_type"})
        self.issued += 1
        return Reply(body={"access_token": f"tok-{self.issued}", "expires_in": 3600})

    def api(self, request: Received) -> Reply:
        ok = request.headers.get("authorization") == f"Bearer tok-{self.issued}"
        return Reply(200 if ok else 401, {"ok": ok})


def oauth_target(server: HttpServer, **extra: Any) -> HttpTarget:
    auth = {
        "type": "oauth_client_credentials",
        "token_url": f"{server.url}/token",
        "client_id": "cid",
        "client_secret_env": "T_SECRET",
        "scope": "events:write",
        **extra,
    }
    return http_target(url=f"{server.url}/api", auth=auth)


async def test_oauth_token_is_fetched_once_and_cached(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    oauth = OAuthServer(http_server)
    target = oauth_target(http_server, body_parameters={"audience": "shop"})
    for _ in range(3):
        await target.send("{}", make_ctx())
    await target.aclose()
    [token_request] = http_server.requests("/token")
    assert "scope=events%3Awrite" in token_request.body.decode()
    assert "audience=shop" in token_request.body.decode()
    assert oauth.issued == 1
    assert len(http_server.requests("/api")) == 3


async def test_oauth_token_is_refreshed_on_401(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    oauth = OAuthServer(http_server)
    target = oauth_target(http_server)
    await target.send("{}", make_ctx())
    oauth.issued += 1  # the server revokes tok-1: the API now wants tok-2
    outcome = await target.send("{}", make_ctx())
    await target.aclose()
    assert outcome == {"status": 200, "body": {"ok": True}}
    assert [r.headers["authorization"] for r in http_server.requests("/api")] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-3",
    ]


async def test_oauth_refused_credentials_are_permanent(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", "wrong-" + SECRET)
    OAuthServer(http_server)
    error = await failure(oauth_target(http_server))
    assert (error.retryable, error.code) == (False, "OAUTH_TOKEN")
    assert http_server.requests("/api") == []


ALL_AUTH = [case[0] for case in AUTH_CASES] + [
    {
        "type": "oauth_client_credentials",
        "token_url": "{url}/token",
        "client_id": "cid",
        "client_secret_env": "T_SECRET",
    }
]


def echo_everything(request: Received) -> Reply:
    """A hostile endpoint that echoes the request's headers back in its error."""
    return Reply(400, repr(request.headers).encode() + request.body)


@pytest.mark.parametrize("auth", ALL_AUTH, ids=lambda a: a["type"])
@pytest.mark.parametrize("path", ["/api", "/token"])
async def test_no_secret_appears_in_errors_or_logs(
    http_server: HttpServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    auth: dict[str, str],
    path: str,
) -> None:
    # Given an endpoint (the API, or the token endpoint) that echoes credentials in its errors
    monkeypatch.setenv("T_SECRET", SECRET)
    OAuthServer(http_server)
    http_server.answer(path, echo_everything)
    auth = {k: v.format(url=http_server.url) for k, v in auth.items()}
    caplog.set_level(logging.DEBUG)
    # When a delivery fails
    error = await failure(http_target(url=f"{http_server.url}/api", auth=auth))
    # Then neither the error (dead-letter text) nor any log record holds a secret
    secrets = [SECRET, basic("eb", SECRET).split()[1], basic("cid", SECRET).split()[1], "tok-1"]
    text = f"{error} {error.code} {error!r} {error.__cause__!r} {caplog.text}"
    assert not [s for s in secrets if s in text], text
    assert error.__cause__ is None


# --- rate limit -------------------------------------------------------------------------------


async def test_rate_limit_is_shared_by_two_routers(
    http_server: HttpServer, services: TargetServices
) -> None:
    # Given the same target built by two routers sharing one Redis, at 1 invocation/s
    settings = {"url": f"{http_server.url}/x", "rate_limit_per_second": 1, "timeout_seconds": 0.2}
    router_a, router_b = http_target(services, **settings), http_target(services, **settings)
    # When each sends one delivery right after the other
    await send(router_a)
    error = await failure(router_b)
    # Then the second is throttled (retryably, told when to come back) and never reaches the API
    assert (error.retryable, error.code) == (True, "THROTTLED")
    assert error.retry_after is not None and 0 < error.retry_after <= 1
    assert len(http_server.received) == 1


async def test_rate_limit_is_per_target(http_server: HttpServer, aredis: Any) -> None:
    settings = {"url": f"{http_server.url}/x", "rate_limit_per_second": 1, "timeout_seconds": 0.2}
    for target_id in ("a", "b"):
        services = TargetServices(redis=aredis, bus="shop", rule="orders", target_id=target_id)
        await send(http_target(services, **settings))
    assert len(http_server.received) == 2


async def test_rate_limited_sends_wait_for_their_slot(
    http_server: HttpServer, services: TargetServices
) -> None:
    # Given two routers' copies of a target limited to 5/s
    settings = {"url": f"{http_server.url}/x", "rate_limit_per_second": 5}
    targets = [http_target(services, **settings) for _ in range(2)]
    # When 6 deliveries are sent at once, 3 through each
    await asyncio.gather(*(t.send("{}", make_ctx()) for t in targets for _ in range(3)))
    for t in targets:
        await t.aclose()
    # Then all arrive, spread over at least the 1 s their slots span (less scheduling slack)
    arrivals = sorted(r.at for r in http_server.received)
    assert len(arrivals) == 6
    assert arrivals[-1] - arrivals[0] >= 0.6


# --- the deadline and the answer cap ------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_a_body_trickled_byte_by_byte_times_out_at_the_deadline(
    http_server: HttpServer,
) -> None:
    # Given an endpoint that answers 200 at once, then sends its body a byte every 0.2 s
    http_server.answer("/drip", Reply(body=b"x" * 50, drip=0.2))
    # When a delivery with a 1 s deadline is sent (each read gets a byte well within 1 s)
    error = await failure(http_target(url=f"{http_server.url}/drip", timeout_seconds=1))
    # Then the attempt fails as a retryable TIMEOUT instead of waiting out the body
    assert (error.retryable, error.code) == (True, "TIMEOUT")
    assert "within 1 s" in str(error)


@pytest.mark.timeout(30)
async def test_a_trickled_oauth_token_answer_times_out_within_the_same_deadline(
    http_server: HttpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_SECRET", SECRET)
    http_server.answer("/token", Reply(body=b"x" * 50, drip=0.2))
    auth = {
        "type": "oauth_client_credentials",
        "token_url": f"{http_server.url}/token",
        "client_id": "cid",
        "client_secret_env": "T_SECRET",
    }
    error = await failure(http_target(url=f"{http_server.url}/api", auth=auth, timeout_seconds=0.3))
    assert (error.retryable, error.code) == (True, "TIMEOUT")
    assert http_server.requests("/api") == []


@pytest.mark.parametrize(("status", "code"), [(200, None), (503, "HTTP_503")])
async def test_a_huge_answer_is_judged_by_its_status_reading_at_most_1_mib(
    http_server: HttpServer, status: int, code: str | None
) -> None:
    # Given an endpoint answering 20 MiB
    http_server.answer("/big", Reply(status, b"x" * 65536, repeat=320))
    target = http_target(url=f"{http_server.url}/big")
    # When a delivery is sent, tracing every allocation meanwhile
    tracemalloc.start()
    try:
        outcome = await send(target)
    except TargetError as e:
        outcome = {"code": e.code}
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # Then the status decides, and memory held a few times the cap at most (the kept chunks, the
    # joined body, the client's buffers, lazy imports), where reading it whole takes over 40 MiB
    assert outcome == ({"status": 200, "body": None} if code is None else {"code": code})
    assert peak < 8 * RESPONSE_BODY_MAX_BYTES


async def fetch_from(url: str) -> Answer:
    client = new_client()
    try:
        return await fetch(client, "GET", url, query={}, headers={}, content=None, redact=str)
    finally:
        await client.aclose()


async def test_the_body_kept_is_cut_at_1_mib(http_server: HttpServer) -> None:
    http_server.answer("/big", Reply(body=b"y" * 65536, repeat=320))
    http_server.answer("/fits", Reply(body=b"z" * RESPONSE_BODY_MAX_BYTES))
    big, fits = (
        await fetch_from(f"{http_server.url}/big"),
        await fetch_from(f"{http_server.url}/fits"),
    )
    assert (len(big.body), big.truncated) == (RESPONSE_BODY_MAX_BYTES, True)
    assert (fits.body, fits.truncated) == (b"z" * RESPONSE_BODY_MAX_BYTES, False)


# --- header values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a\r\nX-Injected: 1", "line\nbreak", "cr\ronly", "nul\x00byte", "snow ☃", "emoji 😀", "\x1b"],
)
async def test_a_header_value_http_cannot_carry_fails_for_good_before_sending(
    http_server: HttpServer, value: str
) -> None:
    target = http_target(url=f"{http_server.url}/x", headers={"X-Name": "$.detail.name"})
    event = {**EVENT, "detail": {"name": value}}
    with pytest.raises(TargetError) as err:
        await send(target, event=event)
    assert (err.value.retryable, err.value.code) == (False, "INVALID_HEADER_VALUE")
    assert "X-Name" in str(err.value) and value not in str(err.value)
    assert http_server.received == []


def wire_text(value: str) -> str:
    """A header value as the client wrote it: the test server decodes the bytes as Latin-1."""
    return value.encode("latin-1").decode()


async def test_latin_1_and_tab_in_header_values_are_sent_as_they_are_in_utf_8(
    http_server: HttpServer,
) -> None:
    target = http_target(url=f"{http_server.url}/x", headers={"X-Name": "$.detail.name"})
    await send(target, event={**EVENT, "detail": {"name": " Zoë\tMüller © "}})
    [request] = http_server.received
    # surrounding blanks are no part of it
    assert wire_text(request.headers["x-name"]) == "Zoë\tMüller ©"


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(st.characters(max_codepoint=0xFF) | st.sampled_from("☃😀\u2028"), max_size=12))
async def test_a_header_value_is_sent_as_it_is_or_refused_before_sending(
    http_server: HttpServer, value: str
) -> None:
    # Given any text read from an event into a header
    before = len(http_server.received)
    target = http_target(url=f"{http_server.url}/x", headers={"X-Name": "$.detail.name"})
    # When it is delivered
    try:
        await send(target, event={**EVENT, "detail": {"name": value}})
    except TargetError as e:
        # Then either it is refused for good, nothing sent
        assert (e.retryable, e.code) == (False, "INVALID_HEADER_VALUE")
        assert len(http_server.received) == before
    else:
        # or the endpoint gets it as it was, surrounding blanks aside
        assert wire_text(http_server.received[-1].headers["x-name"]) == value.strip(" \t")


@pytest.mark.parametrize("where", ["headers", "oauth"])
def test_a_constant_header_value_http_cannot_carry_is_refused_when_rules_load(where: str) -> None:
    bad = {"X-Name": "a\r\nb"}
    oauth = {
        "type": "oauth_client_credentials",
        "token_url": "http://h/token",
        "client_id": "c",
        "client_secret_env": "S",
        "header_parameters": bad,
    }
    settings = {"headers": bad} if where == "headers" else {"auth": oauth}
    with pytest.raises(ValueError, match="U\\+000D at position 1"):
        HttpConfig.model_validate({"url": "http://h/", **settings})
