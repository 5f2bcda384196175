"""Authorization for the ``http`` target: basic, API key header, bearer token, OAuth client
credentials (EventBridge connections' kinds, plus bearer).

Secrets are never written in rule files: each kind names the environment variables holding them
(``password_env: SHOP_API_PASSWORD``). They are read when first needed, so a missing variable
fails deliveries (retryably, ``MISSING_SECRET``) rather than rule validation on a machine that
does not hold them. Every auth knows its secret values and scrubs them from any text that may
end up in logs or dead letters (:meth:`Auth.redact`).
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from typing import Any
from urllib.parse import urlencode

import orjson

from eventbus.errors import TargetError, TargetRejected
from eventbus.targets.configs import (
    ApiKeyAuthConfig,
    AuthConfig,
    BasicAuthConfig,
    BearerAuthConfig,
    OAuthClientCredentialsConfig,
)
from eventbus.targets.http_client import Client, fetch
from eventbus.targets.http_params import header_value
from eventbus.targets.http_response import Answer

__all__ = [
    "ApiKeyAuthConfig",
    "Auth",
    "AuthConfig",
    "BasicAuthConfig",
    "BearerAuthConfig",
    "OAuthClientCredentialsConfig",
    "build_auth",
]

REDACTED = "***"
# Refresh a token this long before it expires (EventBridge refreshes within 60 s of expiry).
TOKEN_REFRESH_MARGIN_SECONDS = 60.0
TOKEN_DEFAULT_LIFETIME_SECONDS = 3600.0


def _secret(env: str, field: str) -> str:
    value = os.environ.get(env)
    if not value:
        raise TargetError(
            f"auth.{field}: environment variable {env} is not set", code="MISSING_SECRET"
        )
    return value


def _basic_credentials(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


class Auth:
    """No authorization; the base of the others."""

    refreshable = False  # whether a 401/407 answer may be cured by fetching new credentials

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    async def headers(self, client: Client) -> dict[str, str]:
        return {}

    def invalidate(self, headers: dict[str, str]) -> None:
        """Forget the credentials sent in ``headers`` (answered 401/407)."""

    def _remember(self, *secrets: str) -> None:
        self._secrets.update(s for s in secrets if s)

    def redact(self, text: str) -> str:
        """``text`` with every secret value this auth has used replaced by ``***``."""
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class _BasicAuth(Auth):
    def __init__(self, config: BasicAuthConfig) -> None:
        super().__init__()
        self._config = config

    async def headers(self, client: Client) -> dict[str, str]:
        password = _secret(self._config.password_env, "password_env")
        token = _basic_credentials(self._config.username, password)
        self._remember(password, token)
        return {"Authorization": f"Basic {token}"}


class _HeaderAuth(Auth):
    """A header whose whole value (after a prefix) is one secret: API key or bearer token."""

    def __init__(self, header: str, prefix: str, env: str, field: str) -> None:
        super().__init__()
        self._header, self._prefix, self._env, self._field = header, prefix, env, field

    async def headers(self, client: Client) -> dict[str, str]:
        secret = _secret(self._env, self._field)
        self._remember(secret)
        try:
            value = header_value(secret)
        except ValueError as e:
            # Retryable like a missing variable: fixing it and restarting lets the retries through.
            raise TargetError(
                f"auth.{self._field}: environment variable {self._env} cannot be sent in a "
                f"header: {e}",
                code="INVALID_SECRET",
            ) from None
        return {self._header: f"{self._prefix}{value}"}


class _OAuthClientCredentials(Auth):
    """Fetch a token from the token endpoint, cache it until shortly before it expires, and
    fetch a new one when the endpoint answers 401 or 407 (EventBridge's behaviour)."""

    refreshable = True

    def __init__(self, config: OAuthClientCredentialsConfig, timeout_seconds: float) -> None:
        super().__init__()
        self._config = config
        self._timeout = timeout_seconds
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()  # one token request at a time, not one per waiting send

    async def headers(self, client: Client) -> dict[str, str]:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                self._token, lifetime = await self._fetch(client)
                self._expires_at = time.monotonic() + _usable_seconds(lifetime)
            return {"Authorization": f"Bearer {self._token}"}

    def invalidate(self, headers: dict[str, str]) -> None:
        if headers.get("Authorization") == f"Bearer {self._token}":
            self._token = None

    async def _fetch(self, client: Client) -> tuple[str, float]:
        answer = await self._request(client)
        if answer.status != 200:
            self._fail_on(answer)
        token, lifetime = _parse_token(answer.body)
        self._remember(token)
        return token, lifetime

    async def _request(self, client: Client) -> Answer:
        cfg = self._config
        secret = _secret(cfg.client_secret_env, "client_secret_env")
        credentials = _basic_credentials(cfg.client_id, secret)  # RFC 6749 §2.3.1
        self._remember(secret, credentials)
        form = {"grant_type": "client_credentials", **cfg.body_parameters}
        if cfg.scope:
            form["scope"] = cfg.scope
        in_query = cfg.method == "GET"
        headers = {**cfg.header_parameters, "Authorization": f"Basic {credentials}"}
        if not in_query:
            headers = {"Content-Type": "application/x-www-form-urlencoded", **headers}
        async with client.deadlines.within(self._timeout, "OAuth token request to", cfg.token_url):
            return await fetch(
                client,
                cfg.method,
                cfg.token_url,
                query={**cfg.query_parameters, **(form if in_query else {})},
                headers=headers,
                content=None if in_query else urlencode(form).encode(),
                redact=self.redact,
                error_code="OAUTH_TOKEN",
            )

    def _fail_on(self, answer: Answer) -> None:
        status = answer.status
        text = answer.body[:4096].decode("utf-8", "replace")
        message = self.redact(f"OAuth token endpoint answered {status}: {text}")
        if status == 429 or status >= 500:
            raise TargetError(message, code="OAUTH_TOKEN")
        raise TargetRejected(message, code="OAUTH_TOKEN")


def _parse_token(content: bytes) -> tuple[str, float]:
    try:
        body: Any = orjson.loads(content)
        token = body["access_token"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        raise TargetRejected(
            "OAuth token endpoint answered without an access_token", code="OAUTH_TOKEN"
        ) from None
    try:
        token = header_value(str(token))
    except ValueError as e:
        raise TargetRejected(
            f"OAuth token endpoint answered an access_token a header cannot carry: {e}",
            code="OAUTH_TOKEN",
        ) from None
    lifetime = body.get("expires_in")
    if not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = TOKEN_DEFAULT_LIFETIME_SECONDS
    return token, float(lifetime)


def _usable_seconds(lifetime: float) -> float:
    """How long to use a token before fetching the next: up to the refresh margin before it
    expires, or half its life when that is shorter than twice the margin."""
    if lifetime > 2 * TOKEN_REFRESH_MARGIN_SECONDS:
        return lifetime - TOKEN_REFRESH_MARGIN_SECONDS
    return lifetime / 2


def build_auth(config: AuthConfig | None, timeout_seconds: float) -> Auth:
    """The auth ``config`` asks for; a token fetch gets ``timeout_seconds`` as its deadline."""
    match config:
        case BasicAuthConfig():
            return _BasicAuth(config)
        case ApiKeyAuthConfig():
            return _HeaderAuth(config.header, "", config.value_env, "value_env")
        case BearerAuthConfig():
            return _HeaderAuth("Authorization", "Bearer ", config.token_env, "token_env")
        case OAuthClientCredentialsConfig():
            return _OAuthClientCredentials(config, timeout_seconds)
    return Auth()
