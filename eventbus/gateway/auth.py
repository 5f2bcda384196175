"""Access keys for the gateway, and SigV4 verification of incoming requests.

Keys come from ``EVENTBUS_ACCESS_KEY_ID`` / ``EVENTBUS_SECRET_ACCESS_KEY`` (one key), or from a
file of ``KEY_ID:SECRET`` lines (several keys; blank lines and ``#`` comments skipped), or both.
Secrets are never printed: errors name the file and line only.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventbus.errors import EventBusError
from eventbus.sigv4 import PendingSignature, SignedRequest, check_headers

__all__ = [
    "KEY_ID_ENV",
    "SECRET_ENV",
    "CredentialsError",
    "check_request_headers",
    "is_loopback",
    "load_credentials",
    "resolve_secrets",
    "signed_request",
]

KEY_ID_ENV = "EVENTBUS_ACCESS_KEY_ID"
SECRET_ENV = "EVENTBUS_SECRET_ACCESS_KEY"


class CredentialsError(EventBusError, ValueError):
    """Access keys that cannot be read; the message says where, never the secret."""


def _from_environment(environ: Mapping[str, str]) -> dict[str, str]:
    key_id, secret = environ.get(KEY_ID_ENV, ""), environ.get(SECRET_ENV, "")
    if bool(key_id) != bool(secret):
        missing = SECRET_ENV if key_id else KEY_ID_ENV
        raise CredentialsError(f"{missing} is not set; set both {KEY_ID_ENV} and {SECRET_ENV}.")
    return {key_id: secret} if key_id else {}


def _from_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise CredentialsError(f"cannot read credentials file {path}: {e.strerror}") from None
    keys: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        key_id, colon, secret = text.partition(":")
        if not colon or not key_id.strip() or not secret.strip():
            raise CredentialsError(f"{path}:{number}: expected KEY_ID:SECRET")
        keys[key_id.strip()] = secret.strip()
    return keys


def load_credentials(
    path: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Access key id → secret, from the environment and ``path`` (the file wins on a clash)."""
    keys = _from_environment(os.environ if environ is None else environ)
    if path is not None:
        keys |= _from_file(Path(path))
    return keys


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_secrets(
    host: str, *, no_auth: bool = False, credentials_file: str | Path | None = None
) -> dict[str, str] | None:
    """The keys a gateway on ``host`` checks, or None when authentication is off.

    ``CredentialsError`` when ``no_auth`` is asked on an address other hosts can reach, or when
    authentication is on and no key is configured.
    """
    if no_auth:
        if not is_loopback(host):
            raise CredentialsError(
                f"--no-auth is only allowed on a loopback address (127.0.0.1, ::1, localhost), "
                f"not {host}: other hosts could publish without a key."
            )
        return None
    secrets = load_credentials(credentials_file)
    if not secrets:
        raise CredentialsError(
            f"No access keys configured: set {KEY_ID_ENV} and {SECRET_ENV}, or pass "
            "--credentials FILE with KEY_ID:SECRET lines (or --no-auth on a loopback address)."
        )
    return secrets


def signed_request(scope: Mapping[str, Any]) -> SignedRequest:
    """The parts of an ASGI request SigV4 covers but the body, path and query exactly as sent."""
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope["headers"]:
        name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    raw_path = scope.get("raw_path") or scope["path"].encode()
    return SignedRequest(
        method=scope["method"],
        path=raw_path.decode("latin-1").partition("?")[0],
        query=scope.get("query_string", b"").decode("latin-1"),
        headers=headers,
    )


def check_request_headers(
    scope: Mapping[str, Any], secrets: Mapping[str, str], service: str = "events"
) -> PendingSignature:
    """SigV4 for the signing name ``service`` as far as the headers decide it
    (``SignatureError`` when they already fail); the result checks the body's hash once it is
    read."""
    return check_headers(signed_request(scope), secrets, now=datetime.now(UTC), service=service)
