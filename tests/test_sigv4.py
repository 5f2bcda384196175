"""SigV4 verification: what AWS SDKs sign is accepted, everything else refused as AWS does."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from eventbus.sigv4 import (
    Authorization,
    SignatureError,
    SignedRequest,
    canonical_query,
    canonical_request,
    canonical_uri,
    check_headers,
    parse_authorization,
    sign_request,
    signature,
    verify,
)

KEY, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
SECRETS = {KEY: SECRET}
URL = "http://127.0.0.1:8088/"
BODY = b'{"Entries": []}'
HEADERS = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSEvents.PutEvents"}


def _as_signed(headers: dict[str, str], body: bytes = BODY, path: str = "/") -> SignedRequest:
    """The request as the server sees it: the HTTP client adds ``Host`` when the signer did not."""
    lowered = {"host": "127.0.0.1:8088"} | {k.lower(): v for k, v in headers.items()}
    return SignedRequest("POST", path, "", lowered, body)


def _botocore_signed(secret: str = SECRET, region: str = "us-east-1") -> dict[str, str]:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(HEADERS))
    SigV4Auth(Credentials(KEY, secret), "events", region).add_auth(request)
    return dict(request.headers.items())


def _refusal(request: SignedRequest, *, now: datetime | None = None) -> SignatureError:
    with pytest.raises(SignatureError) as caught:
        verify(request, SECRETS, now=now or datetime.now(UTC))
    return caught.value


def test_aws_test_suite_get_vanilla_signature() -> None:
    # The `get-vanilla` case of AWS's published SigV4 test suite.
    headers = {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"}
    request = SignedRequest("GET", "/", "", headers, b"")
    auth = Authorization(KEY, "20150830", "us-east-1", "service", "aws4_request",
                         ("host", "x-amz-date"), "")
    canonical = canonical_request(request, auth.signed_headers)
    assert signature(SECRET, "20150830T123600Z", auth, canonical) == (
        "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_botocore_signed_request_is_accepted_in_any_region() -> None:
    for region in ("us-east-1", "local"):
        assert verify(_as_signed(_botocore_signed(region=region)), SECRETS,
                      now=datetime.now(UTC)) == KEY


def test_minimal_signer_agrees_with_the_verifier() -> None:
    headers = sign_request("POST", URL, HEADERS, BODY, key_id=KEY, secret=SECRET, region="local")
    assert verify(_as_signed(headers), SECRETS, now=datetime.now(UTC)) == KEY


def test_no_authorization_is_a_missing_token() -> None:
    error = _refusal(_as_signed(dict(HEADERS)))
    assert (error.code, error.message) == (
        "MissingAuthenticationTokenException", "Missing Authentication Token"
    )


def test_unknown_key_id_is_an_unrecognized_client() -> None:
    headers = sign_request("POST", URL, HEADERS, BODY, key_id="NOPE", secret=SECRET, region="x")
    error = _refusal(_as_signed(headers))
    assert error.code == "UnrecognizedClientException"
    assert error.message == "The security token included in the request is invalid."


def test_wrong_secret_is_an_invalid_signature() -> None:
    error = _refusal(_as_signed(_botocore_signed(secret="wrong")))
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith("The request signature we calculated does not match")


def test_tampered_body_is_an_invalid_signature() -> None:
    error = _refusal(_as_signed(_botocore_signed(), body=b'{"Entries": [{}]}'))
    assert error.code == "InvalidSignatureException"


@pytest.mark.parametrize("name", ["X-Amz-Target", "Content-Type"])
def test_header_choosing_the_action_present_but_unsigned_is_refused(name: str) -> None:
    signed = sign_request("POST", URL, {k: v for k, v in HEADERS.items() if k != name}, BODY,
                          key_id=KEY, secret=SECRET, region="x")  # fmt: skip
    error = _refusal(_as_signed(signed | {name: HEADERS[name]}))
    assert error.code == "InvalidSignatureException"
    assert f"'{name.lower()}' is in the request but not a 'SignedHeader'" in error.message


def test_headers_are_checked_first_and_the_body_hash_last() -> None:
    headers = _as_signed(_botocore_signed(), body=b"")
    pending = check_headers(headers, SECRETS, now=datetime.now(UTC))  # the body is not needed
    assert pending.check(hashlib.sha256(BODY).hexdigest()) == KEY
    with pytest.raises(SignatureError) as caught:
        pending.check(hashlib.sha256(b"another body").hexdigest())
    assert caught.value.code == "InvalidSignatureException"


@pytest.mark.parametrize("offset", [timedelta(minutes=6), timedelta(minutes=-6)])
def test_request_time_more_than_five_minutes_off_is_refused(offset: timedelta) -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    headers = sign_request("POST", URL, HEADERS, BODY, key_id=KEY, secret=SECRET, region="x",
                           now=now + offset)
    error = _refusal(_as_signed(headers), now=now)
    assert error.code == "InvalidSignatureException"
    assert error.message.startswith(("Signature expired", "Signature not yet current"))


def test_request_time_within_five_minutes_is_accepted() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    for offset in (timedelta(minutes=4, seconds=59), timedelta(minutes=-4)):
        headers = sign_request("POST", URL, HEADERS, BODY, key_id=KEY, secret=SECRET,
                               region="x", now=now + offset)
        assert verify(_as_signed(headers), SECRETS, now=now) == KEY


def test_other_service_in_scope_is_refused() -> None:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(HEADERS))
    SigV4Auth(Credentials(KEY, SECRET), "sqs", "us-east-1").add_auth(request)
    error = _refusal(_as_signed(dict(request.headers.items())))
    assert error.code == "InvalidSignatureException"
    assert "'events'" in error.message


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("Bearer abc", "requires 'Credential' parameter"),
        ("AWS4-HMAC-SHA256 Credential=a/b/c", "requires 'Signature' parameter"),
        ("AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=ab", "5 slash-delimited"),
        ("AWS4-HMAC-SHA256 Credential=a/b/c/d/e junk", "not a valid key=value pair"),
    ],
)
def test_malformed_authorization_is_an_incomplete_signature(value: str, fragment: str) -> None:
    with pytest.raises(SignatureError) as caught:
        parse_authorization(value)
    assert caught.value.code == "IncompleteSignatureException"
    assert fragment in caught.value.message


def test_missing_date_is_an_incomplete_signature() -> None:
    headers = sign_request("POST", URL, HEADERS, BODY, key_id=KEY, secret=SECRET, region="x")
    del headers["X-Amz-Date"]
    assert _refusal(_as_signed(headers)).code == "IncompleteSignatureException"


def test_canonical_uri_normalises_and_encodes_again() -> None:
    assert canonical_uri("") == "/"
    assert canonical_uri("/a/./b/../c//d/") == "/a/c/d/"
    assert canonical_uri("/cloudevents/my%20bus") == "/cloudevents/my%2520bus"


def test_canonical_query_sorts_and_encodes() -> None:
    assert canonical_query("b=2&a=x y&a=1") == "a=1&a=x%20y&b=2"
    assert canonical_query("") == ""


def test_the_service_of_the_scope_must_be_the_one_called() -> None:
    request = AWSRequest(method="POST", url=URL, data=BODY, headers=dict(HEADERS))
    SigV4Auth(Credentials(KEY, SECRET), "states", "us-east-1").add_auth(request)
    signed = _as_signed(dict(request.headers.items()))
    pending = check_headers(signed, SECRETS, now=datetime.now(UTC), service="states")
    assert pending.check(hashlib.sha256(BODY).hexdigest()) == KEY
    error = _refusal(signed)  # checked as EventBridge's
    assert error.message == "Credential should be scoped to correct service: 'events'. "
