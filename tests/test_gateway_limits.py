"""The gateway against clients that would hold its memory or connections: raw sockets, real server.

A refusal the headers decide comes back while the client has sent no byte of the body it declared,
which shows the gateway did not wait for (or hold) that body.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from gateway_server import KEY_ID, REGION, SECRET, RunningGateway, running_gateway

from eventbus.gateway.state import Gateway
from eventbus.settings import Settings
from eventbus.sigv4 import sign_request

pytestmark = pytest.mark.timeout(60)

RULES = """
bus: default
rules:
  - name: orders
    event_pattern: {source: [shop.orders]}
    targets:
      - {id: out, type: redis_stream, stream: test.orders}
"""
MAX_REQUEST_BYTES = 10_000
DECLARED = 5_000  # the Content-Length of bodies the tests never send
TARGET = "AWSEvents.PutEvents"
CONTENT_TYPE = "application/x-amz-json-1.1"


@pytest.fixture(scope="module")
def rules_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "default.yaml"
    path.write_text(RULES)
    return path


@pytest.fixture(scope="module")
def gateway(rules_file: Path, redis_server: Any) -> Iterator[RunningGateway]:
    with running_gateway(rules_file, redis_server.url, max_request_bytes=MAX_REQUEST_BYTES) as gw:
        yield gw


def _body(size: int = 0) -> bytes:
    """A valid PutEvents body, padded with spaces to ``size`` bytes."""
    body = orjson.dumps({"Entries": [{"Source": "shop.orders", "DetailType": "T", "Detail": "{}"}]})
    return body.ljust(size)


def _signed(
    gateway: RunningGateway,
    body: bytes,
    *,
    unsigned: dict[str, str] | None = None,
    skew: timedelta = timedelta(0),
    key_id: str = KEY_ID,
    **extra: str,
) -> dict[str, str]:
    """Headers signing ``body``, plus ``unsigned`` ones added after signing."""
    headers = {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET, **extra}
    for name in unsigned or {}:
        headers.pop(name, None)
    signed = sign_request("POST", gateway.url + "/", headers, body, key_id=key_id, secret=SECRET,
                          region=REGION, now=datetime.now(UTC) + skew)  # fmt: skip
    return signed | (unsigned or {})


def _connect(gateway: RunningGateway) -> socket.socket:
    address = urlsplit(gateway.url)
    sock = socket.create_connection((address.hostname, address.port))
    sock.settimeout(30)  # a gateway that never answers fails the test instead of hanging it
    return sock


def _send_head(
    gateway: RunningGateway, headers: dict[str, str], length: int | None, path: str = "/"
) -> socket.socket:
    """A connection on which a POST's headers (and no body) were sent."""
    lines = [f"POST {path} HTTP/1.1"]
    if "Host" not in headers:
        lines.append(f"Host: {urlsplit(gateway.url).netloc}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    sock = _connect(gateway)
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self) -> str:
        return str(orjson.loads(self.body)["__type"])


def _read_answer(sock: socket.socket) -> Answer:
    """One response (status line, headers, Content-Length body) from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed without an answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    while len(body) < int(headers.get("content-length", 0)):
        chunk = sock.recv(65536)
        assert chunk, "connection closed in the middle of the answer"
        body += chunk
    return Answer(int(status_line.split()[1]), headers, body)


def _closed(sock: socket.socket) -> bool:
    """Whether the gateway closed the connection (waiting for it, bounded by the socket timeout)."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


def _refused_on_headers(gateway: RunningGateway, headers: dict[str, str],
                        length: int | None = DECLARED) -> Answer:  # fmt: skip
    with _send_head(gateway, headers, length) as sock:
        answer = _read_answer(sock)
        assert answer.headers["connection"] == "close"
        assert _closed(sock)
    return answer


def _without_host_signed(headers: dict[str, str]) -> dict[str, str]:
    auth = headers["Authorization"].replace("SignedHeaders=content-type;host;", "SignedHeaders="
                                            "content-type;")  # fmt: skip
    return headers | {"Authorization": auth}


HEADER_REFUSALS: dict[str, tuple[Any, int, str]] = {
    "no Authorization": (lambda gw: {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET}, 400,
                         "MissingAuthenticationTokenException"),
    "malformed Authorization": (lambda gw: _signed(gw, b"") | {"Authorization": "Bearer x"}, 400,
                                "IncompleteSignatureException"),
    "unknown access key": (lambda gw: _signed(gw, b"", key_id="AKIDNOPE"), 400,
                           "UnrecognizedClientException"),
    "scope of another service": (
        lambda gw: _signed(gw, b"") | {"Authorization": _signed(gw, b"")["Authorization"]
                                       .replace("/events/", "/sqs/")},
        400, "InvalidSignatureException"),
    "clock 6 min behind": (lambda gw: _signed(gw, b"", skew=-timedelta(minutes=6)), 400,
                           "InvalidSignatureException"),
    "clock 6 min ahead": (lambda gw: _signed(gw, b"", skew=timedelta(minutes=6)), 400,
                          "InvalidSignatureException"),
    "host not signed": (lambda gw: _without_host_signed(_signed(gw, b"")), 400,
                        "InvalidSignatureException"),
    "x-amz-target not signed": (lambda gw: _signed(gw, b"", unsigned={"X-Amz-Target": TARGET}),
                                400, "InvalidSignatureException"),
    "content-type not signed": (
        lambda gw: _signed(gw, b"", unsigned={"Content-Type": CONTENT_TYPE}), 400,
        "InvalidSignatureException"),
}  # fmt: skip


@pytest.mark.parametrize("case", HEADER_REFUSALS, ids=list(HEADER_REFUSALS))
def test_bad_headers_are_refused_before_the_body_is_read(
    gateway: RunningGateway, case: str
) -> None:
    make_headers, status, code = HEADER_REFUSALS[case]
    answer = _refused_on_headers(gateway, make_headers(gateway))
    assert (answer.status, answer.code) == (status, code), answer.body


def test_unsigned_header_refusal_names_the_header(gateway: RunningGateway) -> None:
    answer = _refused_on_headers(gateway, _signed(gateway, b"", unsigned={"X-Amz-Target": TARGET}))
    assert "'x-amz-target' is in the request but not a 'SignedHeader'" in answer.body.decode()


def test_body_without_content_length_is_refused_before_it_is_read(
    gateway: RunningGateway,
) -> None:
    headers = _signed(gateway, b"") | {"Transfer-Encoding": "chunked"}
    answer = _refused_on_headers(gateway, headers, length=None)
    assert (answer.status, answer.code) == (411, "LengthRequiredException")


def test_content_length_over_the_cap_is_refused_before_the_body_is_read(
    gateway: RunningGateway,
) -> None:
    answer = _refused_on_headers(gateway, _signed(gateway, b""), length=10_000_000)
    assert (answer.status, answer.code) == (413, "RequestEntityTooLargeException")


def test_body_checked_against_its_signature_after_streaming(gateway: RunningGateway) -> None:
    body = _body(200)
    with _send_head(gateway, _signed(gateway, body), len(body)) as sock:
        for i in range(0, len(body), 50):  # in pieces: the hash is taken as they arrive
            sock.sendall(body[i : i + 50])
        assert _read_answer(sock).status == 200
    altered = body.replace(b"shop.orders", b"shop.ORDERS")
    with _send_head(gateway, _signed(gateway, body), len(altered)) as sock:
        sock.sendall(altered)
        answer = _read_answer(sock)
    assert (answer.status, answer.code) == (400, "InvalidSignatureException")


def _admitted(gateway: RunningGateway, body: bytes) -> socket.socket:
    """A connection whose request the gateway has admitted and now waits for the body of.

    ``Expect: 100-continue`` makes the gateway say when it starts reading the body, which is
    after every check on the headers and after the body's bytes were counted as held.
    """
    sock = _send_head(gateway, _signed(gateway, body, Expect="100-continue"), len(body))
    assert sock.recv(1024).startswith(b"HTTP/1.1 100 Continue")
    return sock


@pytest.fixture
def tiny_budget(rules_file: Path, redis_url: str) -> Iterator[RunningGateway]:
    with running_gateway(rules_file, redis_url, max_request_bytes=1000,
                         max_unverified_bytes=1000) as gw:  # fmt: skip
        yield gw


def test_bodies_past_the_unverified_budget_get_503_before_being_read(
    tiny_budget: RunningGateway,
) -> None:
    first = _admitted(tiny_budget, _body(600))
    answer = _refused_on_headers(tiny_budget, _signed(tiny_budget, _body(600)), length=600)
    assert (answer.status, answer.code) == (503, "ThrottlingException")
    assert answer.headers["retry-after"] == "1"
    # The first body, once in and verified, frees its share of the budget.
    first.sendall(_body(600))
    assert _read_answer(first).status == 200
    first.close()
    second = _admitted(tiny_budget, _body(600))
    second.sendall(_body(600))
    assert _read_answer(second).status == 200
    second.close()


@pytest.fixture
def short_body_timeout(rules_file: Path, redis_url: str) -> Iterator[RunningGateway]:
    with running_gateway(rules_file, redis_url, body_timeout=1.0) as gw:
        yield gw


def test_body_not_complete_within_the_timeout_gets_408(
    short_body_timeout: RunningGateway,
) -> None:
    body = _body(300)
    with _admitted(short_body_timeout, body) as sock:
        # A byte now and then until the gateway answers: dripping does not extend the timeout.
        sent = 0
        while not select.select([sock], [], [], 0.2)[0]:
            assert sent < len(body), "the whole body was sent without the gateway answering"
            sock.sendall(body[sent : sent + 1])
            sent += 1
        answer = _read_answer(sock)
        assert (answer.status, answer.code) == (408, "RequestTimeoutException")
        assert answer.headers["connection"] == "close"
        assert _closed(sock)
    # The timed-out body no longer counts against the unverified budget.
    with _admitted(short_body_timeout, body) as sock:
        sock.sendall(body)
        assert _read_answer(sock).status == 200


@pytest.mark.parametrize(
    "sent", [b"", b"POST / HTTP/1.1\r\nHost: x\r\n"], ids=["idle", "headers unfinished"]
)
def test_connection_without_a_request_head_in_time_is_closed(
    short_body_timeout: RunningGateway, sent: bytes
) -> None:
    with _connect(short_body_timeout) as sock:
        sock.sendall(sent)
        assert _closed(sock)


def test_kept_alive_connection_with_slow_next_headers_is_closed(
    short_body_timeout: RunningGateway,
) -> None:
    with _connect(short_body_timeout) as sock:
        assert _get_healthz(sock).headers.get("connection") != "close"
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        assert _closed(sock)


def _get_healthz(sock: socket.socket) -> Answer:
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n")
    return _read_answer(sock)


def test_connections_past_the_cap_get_503_and_are_closed(
    rules_file: Path, redis_url: str
) -> None:
    with running_gateway(rules_file, redis_url, max_connections=2) as gateway:
        # Two connections the gateway has surely accepted: each had an answer, and stays open.
        held = [_connect(gateway) for _ in range(2)]
        for sock in held:
            assert _get_healthz(sock).headers.get("connection") != "close"
        with _connect(gateway) as extra:
            answer = _get_healthz(extra)
            assert (answer.status, answer.code) == (503, "ThrottlingException")
            assert answer.headers["retry-after"] == "1"
            assert _closed(extra)
        assert _get_healthz(held[0]).headers.get("connection") != "close"  # still served
        held.pop().close()
        # Once the gateway has seen the close, a new connection is served (bounded wait).
        for _ in range(100):
            with _connect(gateway) as sock:
                answer = _get_healthz(sock)
            if answer.headers.get("connection") != "close":
                break
        assert answer.headers.get("connection") != "close"
        held[0].close()


def test_no_auth_gateway_still_caps_the_body_before_reading_it(
    rules_file: Path, redis_url: str
) -> None:
    with running_gateway(rules_file, redis_url, secrets={}, max_request_bytes=1000) as gateway:
        answer = _refused_on_headers(gateway, {"Content-Type": CONTENT_TYPE,
                                               "X-Amz-Target": TARGET}, length=5000)  # fmt: skip
        assert (answer.status, answer.code) == (413, "RequestEntityTooLargeException")
        with _send_head(gateway, {"Content-Type": CONTENT_TYPE, "X-Amz-Target": TARGET},
                        len(_body())) as sock:  # fmt: skip
            sock.sendall(_body())
            assert _read_answer(sock).status == 200


def _gateway(**limits: Any) -> Gateway:
    parts: Any = None  # the limits need none of the gateway's parts
    return Gateway(rules=parts, client=parts, redis=parts, metrics=parts, secrets=None, **limits)


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVENTBUS_MAX_UNVERIFIED_BYTES", "123456789")
    monkeypatch.setenv("EVENTBUS_BODY_TIMEOUT", "2.5")
    monkeypatch.setenv("EVENTBUS_MAX_CONNECTIONS", "7")
    gateway = _gateway(settings=Settings.from_env())
    assert (gateway.max_unverified_bytes, gateway.body_timeout, gateway.max_connections) == (
        123456789, 2.5, 7
    )
    # An option given (on the command line) wins over the environment.
    assert _gateway(settings=Settings.from_env(), max_connections=3).max_connections == 3


def test_unverified_budget_is_never_below_one_largest_request() -> None:
    assert _gateway(max_request_bytes=5000, max_unverified_bytes=1000).max_unverified_bytes == 5000
