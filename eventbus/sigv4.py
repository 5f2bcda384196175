"""AWS Signature Version 4: verifying the requests AWS SDKs sign, and a minimal signer (pure).

A signed request carries ``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/
<service>/aws4_request, SignedHeaders=<h1;h2;...>, Signature=<hex>`` and ``X-Amz-Date``. The
verifier rebuilds what the client signed::

    canonical request = METHOD \\n canonical URI \\n canonical query \\n
                        name:value\\n for each signed header \\n signed header names \\n
                        hex(sha256(body))
    string to sign    = AWS4-HMAC-SHA256 \\n <X-Amz-Date> \\n <date>/<region>/<service>/aws4_request
                        \\n hex(sha256(canonical request))
    signing key       = HMAC chain of "AWS4"+secret over date, region, service, "aws4_request"
    signature         = hex(HMAC(signing key, string to sign))

and compares signatures in constant time. The region of the scope is taken as the client gives it
(a self-hosted bus has no region to enforce); the service must be the one the request calls
(``events`` for EventBridge, ``states`` for Step Functions). Each refusal is a
:class:`SignatureError` carrying the ``__type`` and message an AWS JSON service answers.

Everything but the body's hash is in the headers, so :func:`check_headers` refuses a bad request
before a byte of its body is read, and :meth:`PendingSignature.check` ends the verification with
the hash computed while the body streamed in; :func:`verify` does both for a whole request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

from eventbus.errors import EventBusError

__all__ = [
    "ALGORITHM",
    "AMZ_DATE_FORMAT",
    "MAX_CLOCK_SKEW",
    "SERVICE",
    "Authorization",
    "PendingSignature",
    "SignatureError",
    "SignedRequest",
    "canonical_query",
    "canonical_request",
    "canonical_uri",
    "check_headers",
    "parse_authorization",
    "sign_request",
    "signature",
    "verify",
]

ALGORITHM = "AWS4-HMAC-SHA256"
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"
SERVICE = "events"
TERMINATOR = "aws4_request"
# AWS refuses requests whose time is more than five minutes away from its clock.
MAX_CLOCK_SKEW = timedelta(minutes=5)

MISMATCH = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_SPACES = re.compile(r"\s+")
_PARAM = re.compile(r"\s*([A-Za-z]+)=([^,\s]*)\s*")
# Headers that choose what the request does: present unsigned, they could be swapped in transit.
# (``host`` is required to be signed at all, as AWS does: see _check_scope.)
MUST_SIGN = ("x-amz-target", "content-type")


class SignatureError(EventBusError):
    """A request the verifier refuses; ``code`` is the ``__type`` AWS answers, HTTP 400."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


def _incomplete(message: str) -> SignatureError:
    return SignatureError("IncompleteSignatureException", message)


def _invalid(message: str) -> SignatureError:
    return SignatureError("InvalidSignatureException", message)


@dataclass(frozen=True, slots=True)
class Authorization:
    """The parts of an ``Authorization`` header."""

    key_id: str
    date: str
    region: str
    service: str
    terminator: str
    signed_headers: tuple[str, ...]
    signature: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{self.terminator}"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What the verifier needs of an HTTP request.

    ``path`` and ``query`` are exactly as sent (still percent-encoded); ``headers`` has lowercase
    names, the values of a repeated header joined with ``,``. ``body`` may be left empty for
    :func:`check_headers`, which does not look at it.
    """

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes = field(default=b"", repr=False)


def parse_authorization(value: str) -> Authorization:
    """``AWS4-HMAC-SHA256 Credential=<scope>, SignedHeaders=<names>, Signature=<hex>`` parsed.

    ``IncompleteSignatureException`` naming what is missing, as AWS words it.
    """
    algorithm, _, rest = value.strip().partition(" ")
    params: dict[str, str] = {}
    for part in rest.split(",") if algorithm == ALGORITHM else ():
        found = _PARAM.fullmatch(part)
        if found is None:
            raise _incomplete(
                f"'{part.strip()}' not a valid key=value pair (missing equal-sign) in "
                "Authorization header."
            )
        params[found[1]] = found[2]
    missing = [p for p in ("Credential", "Signature", "SignedHeaders") if not params.get(p)]
    if missing:
        raise _incomplete(
            " ".join(f"Authorization header requires '{p}' parameter." for p in missing)
        )
    credential = params["Credential"].split("/")
    if len(credential) != 5 or not all(credential):
        raise _incomplete(
            f"Credential must have exactly 5 slash-delimited elements, e.g. "
            f"keyid/date/region/service/term, got '{params['Credential']}'"
        )
    key_id, date, region, service, terminator = credential
    return Authorization(
        key_id,
        date,
        region,
        service,
        terminator,
        signed_headers=tuple(params["SignedHeaders"].split(";")),
        signature=params["Signature"].lower(),
    )


def canonical_uri(path: str) -> str:
    """The path without ``.``/``..``/empty segments, percent-encoded once more (not for S3).

    ``path`` is as sent, so already encoded once: AWS SDKs sign it encoded twice.
    """
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    trailing = "/" if path.endswith("/") and segments else ""
    return quote("/" + "/".join(segments) + trailing, safe="/~")


def canonical_query(query: str) -> str:
    """Each name and value percent-encoded (RFC 3986 unreserved kept), sorted by name then value."""
    pairs = []
    for item in query.split("&") if query else ():
        name, _, value = item.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{n}={v}" for n, v in sorted(pairs))


def canonical_request(
    request: SignedRequest, signed_headers: tuple[str, ...], payload_hash: str | None = None
) -> str:
    """The canonical request; ``payload_hash`` (hex sha256) defaults to that of ``request.body``."""
    headers = "".join(
        f"{name}:{_SPACES.sub(' ', request.headers.get(name, '').strip())}\n"
        for name in signed_headers
    )
    return "\n".join((
        request.method.upper(),
        canonical_uri(request.path),
        canonical_query(request.query),
        headers,
        ";".join(signed_headers),
        payload_hash or hashlib.sha256(request.body).hexdigest(),
    ))


@lru_cache(maxsize=256)
def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    # The key changes once a day per credential: caching it saves four HMACs a request.
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, TERMINATOR):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def signature(secret: str, amz_date: str, auth: Authorization, canonical: str) -> str:
    """The hex signature of a canonical request under ``auth``'s scope."""
    to_sign = "\n".join((
        ALGORITHM, amz_date, auth.scope, hashlib.sha256(canonical.encode()).hexdigest()
    ))
    key = _signing_key(secret, auth.date, auth.region, auth.service)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _request_time(headers: Mapping[str, str]) -> tuple[str, datetime]:
    """The request's time, as signed (``X-Amz-Date``, else ``Date``) and as a datetime."""
    text = headers.get("x-amz-date")
    try:
        if text:
            return text, datetime.strptime(text, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
        if headers.get("date"):
            moment = parsedate_to_datetime(headers["date"]).astimezone(UTC)
            return moment.strftime(AMZ_DATE_FORMAT), moment
    except (ValueError, TypeError):
        raise _incomplete(
            f"Date must be in ISO-8601 'basic format'. Got '{text or headers['date']}'. "
            "See http://en.wikipedia.org/wiki/ISO_8601"
        ) from None
    raise _incomplete(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header."
    )


def _check_scope(auth: Authorization, amz_date: str, service: str) -> None:
    if auth.date != amz_date[:8]:
        raise _invalid(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{amz_date[:8]}', from '{amz_date}'."
        )
    if auth.service != service:
        raise _invalid(f"Credential should be scoped to correct service: '{service}'. ")
    if auth.terminator != TERMINATOR:
        raise _invalid(
            f"Credential should be scoped with a valid terminator: '{TERMINATOR}', "
            f"not '{auth.terminator}'."
        )
    if "host" not in auth.signed_headers:
        raise _invalid("'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.")


def _check_signed(auth: Authorization, headers: Mapping[str, str]) -> None:
    for name in MUST_SIGN:
        if name in headers and name not in auth.signed_headers:
            raise _invalid(
                f"'{name}' is in the request but not a 'SignedHeader' in the AWS Authorization: "
                "sign it too."
            )


def _check_clock(amz_date: str, moment: datetime, now: datetime) -> None:
    def fmt(t: datetime) -> str:
        return t.strftime(AMZ_DATE_FORMAT)

    if moment < now - MAX_CLOCK_SKEW:
        raise _invalid(
            f"Signature expired: {amz_date} is now earlier than {fmt(now - MAX_CLOCK_SKEW)} "
            f"({fmt(now)} - 5 min.)"
        )
    if moment > now + MAX_CLOCK_SKEW:
        raise _invalid(
            f"Signature not yet current: {amz_date} is still later than "
            f"{fmt(now + MAX_CLOCK_SKEW)} ({fmt(now)} + 5 min.)"
        )


@dataclass(frozen=True, slots=True)
class PendingSignature:
    """A request whose headers passed every check: only the body's hash is left to decide."""

    request: SignedRequest
    auth: Authorization
    amz_date: str
    secret: str = field(repr=False)

    def check(self, payload_hash: str) -> str:
        """The access key id that signed the request whose body hashes (hex sha256) to
        ``payload_hash``, or ``InvalidSignatureException``."""
        canonical = canonical_request(self.request, self.auth.signed_headers, payload_hash)
        expected = signature(self.secret, self.amz_date, self.auth, canonical)
        if not hmac.compare_digest(expected, self.auth.signature):
            raise _invalid(MISMATCH)
        return self.auth.key_id


def check_headers(
    request: SignedRequest, secrets: Mapping[str, str], *, now: datetime, service: str = SERVICE
) -> PendingSignature:
    """All of SigV4 that the headers decide, or :class:`SignatureError`; ``request.body`` unused.
    ``service`` is the signing name the credential scope must carry.

    Checked in AWS's order: a signature at all, its form, the request time, a known key, the
    credential scope (and that the headers choosing the action are signed), the clock.
    """
    header = request.headers.get("authorization")
    if not header:
        raise SignatureError("MissingAuthenticationTokenException", "Missing Authentication Token")
    auth = parse_authorization(header)
    amz_date, moment = _request_time(request.headers)
    secret = secrets.get(auth.key_id)
    if secret is None:
        raise SignatureError(
            "UnrecognizedClientException", "The security token included in the request is invalid."
        )
    _check_scope(auth, amz_date, service)
    _check_signed(auth, request.headers)
    _check_clock(amz_date, moment, now)
    return PendingSignature(request, auth, amz_date, secret)


def verify(request: SignedRequest, secrets: Mapping[str, str], *, now: datetime) -> str:
    """The access key id that signed ``request`` (body included), or :class:`SignatureError`."""
    pending = check_headers(request, secrets, now=now)
    return pending.check(hashlib.sha256(request.body).hexdigest())


def sign_request(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    key_id: str,
    secret: str,
    region: str,
    now: datetime | None = None,
) -> dict[str, str]:
    """``headers`` plus ``Host``, ``X-Amz-Date`` and ``Authorization``, signing every header.

    The minimal signer the benchmark and the tests use (AWS SDKs bring their own).
    """
    parts = urlsplit(url)
    amz_date = (now or datetime.now(UTC)).strftime(AMZ_DATE_FORMAT)
    signed = {k.lower(): v for k, v in headers.items()}
    signed |= {"host": parts.netloc, "x-amz-date": amz_date}
    names = tuple(sorted(signed))
    auth = Authorization(key_id, amz_date[:8], region, SERVICE, TERMINATOR, names, "")
    request = SignedRequest(method, parts.path or "/", parts.query, signed, body)
    value = signature(secret, amz_date, auth, canonical_request(request, names))
    return {
        **headers,
        "Host": parts.netloc,
        "X-Amz-Date": amz_date,
        "Authorization": (
            f"{ALGORITHM} Credential={key_id}/{auth.scope}, "
            f"SignedHeaders={';'.join(names)}, Signature={value}"
        ),
    }
