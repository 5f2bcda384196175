"""The request of an HTTP task (``arn:aws:states:::http:invoke``), read from the task's input as
Step Functions reads it (pure: no I/O).

Fields: ``ApiEndpoint`` and ``Method`` (required), ``Authentication.ConnectionArn`` (required),
``Headers``, ``QueryParameters``, ``RequestBody`` and ``Transform``
(``RequestBodyEncoding: NONE | URL_ENCODED``, ``RequestEncodingOptions.ArrayFormat: INDICES |
REPEAT | COMMAS | BRACKETS``). A field of the wrong shape fails the task with
``States.Runtime``, as a request that can never be sent.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from yarl import URL

from eventbus.errors import StatesError
from eventbus.targets.http_params import header_value
from eventbus.workflows import jsontext

__all__ = ["METHODS", "HttpRequest", "read_request", "url_encode"]

METHODS: Final = ("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD")
_BODYLESS: Final = frozenset({"GET", "HEAD"})
# Headers a task may not set (AWS's list): the client, the connection or the transport own them.
_FORBIDDEN_HEADERS: Final = frozenset(
    {
        *("a-im", "accept-charset", "accept-datetime", "accept-encoding", "authorization"),
        *("cache-control", "connection", "content-encoding", "content-md5", "date", "expect"),
        *("forwarded", "from", "host", "http2-settings", "if-match", "if-modified-since"),
        *("if-none-match", "if-range", "if-unmodified-since", "max-forwards", "origin"),
        *("pragma", "proxy-authorization", "referer", "server", "te", "trailer"),
        *("transfer-encoding", "upgrade", "via", "warning"),
    }
)
_FORBIDDEN_PREFIXES: Final = ("x-forwarded-", "x-amz-", "x-amzn-")
_ARRAY_FORMATS: Final = ("INDICES", "REPEAT", "COMMAS", "BRACKETS")
JSON_CONTENT_TYPE: Final = "application/json; charset=UTF-8"
FORM_CONTENT_TYPE: Final = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One HTTP task's request, ready to send but for the connection's authorization."""

    method: str
    url: str  # ApiEndpoint with QueryParameters added to its own query
    connection_arn: str
    headers: dict[str, str]  # the task's, Content-Type included when there is a body
    body: bytes | None


def _runtime(cause: str) -> StatesError:
    return StatesError("States.Runtime", f"The HTTP task's {cause}")


def _text(value: Any) -> str:
    """A scalar as text in a header, a query or a form: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else jsontext.dumps(value)


def _field(task_input: Mapping[str, Any], name: str, kind: type, what: str) -> Any:
    value = task_input.get(name)
    if value is not None and not isinstance(value, kind):
        raise _runtime(f"field '{name}' must be {what}, not {jsontext.dumps(value)[:200]}")
    return value


def read_request(task_input: Any) -> HttpRequest:
    """The request ``task_input`` (the state's Parameters or Arguments) describes."""
    if not isinstance(task_input, dict):
        raise _runtime("input must be an object with ApiEndpoint, Method and Authentication")
    endpoint = _field(task_input, "ApiEndpoint", str, "a URL")
    method = _field(task_input, "Method", str, "a string")
    auth = _field(task_input, "Authentication", dict, "an object with ConnectionArn") or {}
    arn = auth.get("ConnectionArn")
    if endpoint is None or method is None or not isinstance(arn, str):
        raise _runtime("input needs ApiEndpoint, Method and Authentication.ConnectionArn")
    if method not in METHODS:
        raise _runtime(f"Method must be one of {', '.join(METHODS)}, not {method!r}")
    headers = _headers(_field(task_input, "Headers", dict, "an object") or {})
    body, content_type = _body(task_input, method)
    if content_type is not None and not any(k.lower() == "content-type" for k in headers):
        headers["Content-Type"] = content_type
    url = _url(endpoint, _field(task_input, "QueryParameters", dict, "an object") or {})
    return HttpRequest(method, url, arn, headers, body)


def _url(endpoint: str, query: Mapping[str, Any]) -> str:
    try:
        url = URL(endpoint)
    except ValueError as e:
        raise _runtime(f"ApiEndpoint is not a URL: {e}") from None
    if url.scheme not in ("http", "https") or not url.host:
        raise _runtime(f"ApiEndpoint must be an http or https URL, not {endpoint!r}")
    pairs = []
    for key, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict | list):
                raise _runtime(f"query parameter {key!r} must be text, a number or a list of them")
            pairs.append((key, _text(item)))
    return str(url.extend_query(pairs)) if pairs else str(url)


def _headers(given: Mapping[str, Any]) -> dict[str, str]:
    headers = {}
    for name, value in given.items():
        lower = name.lower()
        if lower in _FORBIDDEN_HEADERS or lower.startswith(_FORBIDDEN_PREFIXES):
            raise _runtime(f"header {name!r} cannot be set: the connection or the client sets it")
        items = value if isinstance(value, list) else [value]
        if any(isinstance(item, dict | list) for item in items):
            raise _runtime(f"header {name!r} must be text, a number or a list of them")
        try:
            headers[name] = header_value(",".join(_text(item) for item in items))
        except ValueError as e:
            raise _runtime(f"header {name!r} cannot be sent: {e}") from None
    return headers


def _body(task_input: Mapping[str, Any], method: str) -> tuple[bytes | None, str | None]:
    """The body and its content type; none for GET and HEAD."""
    body = task_input.get("RequestBody")
    if body is None or method in _BODYLESS:
        return None, None
    transform = _field(task_input, "Transform", dict, "an object") or {}
    encoding = transform.get("RequestBodyEncoding", "NONE")
    if encoding not in ("NONE", "URL_ENCODED"):
        raise _runtime(f"RequestBodyEncoding must be NONE or URL_ENCODED, not {encoding!r}")
    if isinstance(body, str):
        return body.encode(), FORM_CONTENT_TYPE if encoding == "URL_ENCODED" else JSON_CONTENT_TYPE
    if encoding == "NONE":
        return jsontext.dumps_bytes(body), JSON_CONTENT_TYPE
    if not isinstance(body, dict):
        raise _runtime("RequestBody must be an object or a string to be URL_ENCODED")
    options = transform.get("RequestEncodingOptions") or {}
    array_format = options.get("ArrayFormat", "INDICES") if isinstance(options, dict) else None
    if array_format not in _ARRAY_FORMATS:
        raise _runtime(f"ArrayFormat must be one of {', '.join(_ARRAY_FORMATS)}")
    return url_encode(body, array_format).encode(), FORM_CONTENT_TYPE


def url_encode(body: Mapping[str, Any], array_format: str = "INDICES") -> str:
    """``body`` as a form: nested objects as ``a[b]=c``; arrays as ``a[0]=x&a[1]=y`` (INDICES),
    ``a=x&a=y`` (REPEAT), ``a=x,y`` (COMMAS) or ``a[]=x&a[]=y`` (BRACKETS)."""
    return str(URL().with_query(list(_pairs(body, "", array_format))))[1:]


def _pairs(value: Any, key: str, array_format: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for name, item in value.items():
            yield from _pairs(item, f"{key}[{name}]" if key else str(name), array_format)
    elif isinstance(value, list):
        if array_format == "COMMAS" and not any(isinstance(v, dict | list) for v in value):
            yield key, ",".join(_text(v) for v in value)
            return
        for index, item in enumerate(value):
            if array_format == "REPEAT":
                yield from _pairs(item, key, array_format)
            elif array_format == "BRACKETS":
                yield from _pairs(item, f"{key}[]", array_format)
            else:
                yield from _pairs(item, f"{key}[{index}]", array_format)
    elif value is not None:
        yield key, _text(value)
