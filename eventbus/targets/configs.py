"""The settings of the built-in target types, apart from the code that sends.

Rule files are checked without importing any transport: each type's ``config_model`` is
registered under the ``eventbus.target_configs`` entry point group, pointing here, while the
target classes (``eventbus.targets``) that import aiohttp or redis are loaded only by the runtime
that builds them. A plugin does the same with a module of its own.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Any, Final, Literal

from pydantic import Field, model_validator

from eventbus.targets.base import TargetConfig
from eventbus.targets.http_params import HeaderValue, RequestParts

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "AirflowConfig",
    "ApiKeyAuthConfig",
    "AuthConfig",
    "BasicAuthConfig",
    "BearerAuthConfig",
    "EnvName",
    "HeaderName",
    "HttpConfig",
    "OAuthClientCredentialsConfig",
    "PythonConfig",
    "RedisListConfig",
    "RedisStreamConfig",
    "WorkflowConfig",
    "resolve_function",
]

DEFAULT_TIMEOUT_SECONDS: Final = 5.0


# --- redis_stream, redis_list, python, workflow ----------------------------------------------


class RedisStreamConfig(TargetConfig):
    stream: str = Field(min_length=1, description="the stream key, used exactly as given")
    redis_url: str | None = Field(
        default=None, description="another Redis to write to; default: the bus's Redis"
    )
    max_len: int | None = Field(
        default=None, gt=0, description="approximate MAXLEN trim of the stream on each XADD"
    )


class RedisListConfig(TargetConfig):
    list: str = Field(min_length=1, description="the list key, used exactly as given")
    push: Literal["left", "right"] = Field(default="left", description="LPUSH or RPUSH")
    redis_url: str | None = Field(
        default=None, description="another Redis to write to; default: the bus's Redis"
    )


class PythonConfig(TargetConfig):
    function: str = Field(
        pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$", description="module:function to call"
    )
    timeout_seconds: float | None = Field(default=None, gt=0, description="per call; default none")

    def load_problems(self) -> list[tuple[str, str]]:
        try:
            resolve_function(self.function)
        except ValueError as e:
            return [("function", str(e))]
        return []


class WorkflowConfig(TargetConfig):
    state_machine: str = Field(
        min_length=1, max_length=80, description="a state machine of the workflow files, by name"
    )


def resolve_function(spec: str) -> Callable[..., Any]:
    """``package.module:attr.path`` → the callable; ``ValueError`` saying what is missing."""
    module_name, _, attr_path = spec.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"python target: cannot import module {module_name!r}: {e}") from e
    for attr in attr_path.split("."):
        obj = getattr(obj, attr, None)
        if obj is None:
            raise ValueError(f"python target: {module_name!r} has no attribute {attr_path!r}")
    if not callable(obj):
        raise ValueError(f"python target: {spec!r} is not callable")
    return obj  # type: ignore[no-any-return]


# --- http and airflow --------------------------------------------------------------------------

EnvName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=256)]
HeaderName = Annotated[str, Field(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$", max_length=512)]


class BasicAuthConfig(TargetConfig):
    type: Literal["basic"]
    username: str = Field(min_length=1, max_length=512)
    password_env: EnvName


class ApiKeyAuthConfig(TargetConfig):
    type: Literal["api_key"]
    header: HeaderName = Field(description="the header carrying the key, e.g. x-api-key")
    value_env: EnvName


class BearerAuthConfig(TargetConfig):
    type: Literal["bearer"]
    token_env: EnvName


class OAuthClientCredentialsConfig(TargetConfig):
    type: Literal["oauth_client_credentials"]
    token_url: str = Field(pattern=r"^https?://", max_length=2048)
    client_id: str = Field(min_length=1, max_length=512)
    client_secret_env: EnvName
    method: Literal["GET", "POST", "PUT"] = "POST"
    scope: str | None = None
    # Extra parameters the token endpoint wants (EventBridge's OAuthHttpParameters).
    body_parameters: dict[str, str] = Field(default_factory=dict)
    query_parameters: dict[str, str] = Field(default_factory=dict)
    header_parameters: dict[HeaderName, HeaderValue] = Field(default_factory=dict)


AuthConfig = Annotated[
    BasicAuthConfig | ApiKeyAuthConfig | BearerAuthConfig | OAuthClientCredentialsConfig,
    Field(discriminator="type"),
]


class HttpConfig(TargetConfig):
    url: str = Field(pattern=r"^https?://", max_length=2048)
    method: Literal["POST", "GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"] = "POST"
    path_parameters: list[str] = Field(default_factory=list, description="fill `*` in url")
    query: dict[str, str] = Field(default_factory=dict)
    headers: dict[HeaderName, HeaderValue] = Field(default_factory=dict)
    auth: AuthConfig | None = None
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=300)
    rate_limit_per_second: float | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check_parameters(self) -> HttpConfig:
        wildcards = self.url.count("*")
        if wildcards != len(self.path_parameters):
            raise ValueError(
                f"url has {wildcards} `*` wildcard(s) but path_parameters has "
                f"{len(self.path_parameters)} value(s); give one value per wildcard"
            )
        # Compiling every JSON path now reports a bad one when rules load, not per event.
        RequestParts(self.url, self.path_parameters, self.query, self.headers)
        return self


class AirflowConfig(TargetConfig):
    base_url: str = Field(pattern=r"^https?://", max_length=1900)
    dag_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=250)
    airflow_version: Literal[2, 3] = 2
    auth: AuthConfig | None = None
    timeout_seconds: float = Field(default=DEFAULT_TIMEOUT_SECONDS, gt=0, le=300)
    rate_limit_per_second: float | None = Field(default=None, ge=1)
