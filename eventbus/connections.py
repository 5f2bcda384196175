"""Connections: named HTTP authorization that workflow HTTP tasks use, as EventBridge connections
are (pure: models and ARNs, no I/O).

A rule file declares them in a ``connections:`` section, each a name plus the ``http`` target's
``auth`` block (secrets named by environment variables, read when first needed)::

    connections:
      - name: shop-api
        auth: {type: api_key, header: x-api-key, value_env: SHOP_API_KEY}
        rate_limit_per_second: 20      # shared by every worker, through Redis
        timeout_seconds: 60            # each request's total deadline (AWS's HTTP task: 60 s)

A task names one by ``arn:aws:events:<region>:<account>:connection/NAME`` (the region and
account are not checked: a definition written for AWS works unchanged). Names are unique across
all rule files, as connections belong to the account, not to a bus.
"""

from __future__ import annotations

import re
from typing import Final

from pydantic import Field

from eventbus.settings import Settings, get_settings
from eventbus.targets.base import TargetConfig
from eventbus.targets.configs import AuthConfig

__all__ = [
    "CONNECTION_NAME_PATTERN",
    "DEFAULT_CONNECTION_TIMEOUT_SECONDS",
    "ConnectionSpec",
    "connection_arn",
    "connection_name",
]

# EventBridge's ConnectionName pattern (1-64 characters).
CONNECTION_NAME_PATTERN: Final = r"^[\.\-_A-Za-z0-9]+$"
# AWS stops an HTTP task's request after 60 seconds.
DEFAULT_CONNECTION_TIMEOUT_SECONDS: Final = 60.0
# The ARN EventBridge gives a connection has a UUID after the name (connection/NAME/UUID);
# it is accepted and ignored, so an ARN copied from AWS names the same connection here.
_ARN: Final = re.compile(
    r"arn:aws[\w-]*:events:[\w-]*:[0-9]*:connection/(?P<name>[.\-_A-Za-z0-9]{1,64})(?:/[\w-]+)?"
)


class ConnectionSpec(TargetConfig):
    """One connection of a rule file's ``connections:`` section."""

    name: str = Field(min_length=1, max_length=64, pattern=CONNECTION_NAME_PATTERN)
    description: str | None = Field(default=None, max_length=512)
    auth: AuthConfig | None = Field(default=None, description="as the http target's `auth`")
    timeout_seconds: float = Field(default=DEFAULT_CONNECTION_TIMEOUT_SECONDS, gt=0, le=300)
    rate_limit_per_second: float | None = Field(default=None, ge=1)


def connection_arn(name: str, settings: Settings | None = None) -> str:
    """The ARN of connection ``name``, in our region and account."""
    s = settings or get_settings()
    return f"arn:aws:events:{s.region}:{s.account}:connection/{name}"


def connection_name(arn: str) -> str | None:
    """The name a connection ARN gives; None when ``arn`` is not a connection ARN."""
    found = _ARN.fullmatch(arn)
    return found["name"] if found is not None else None
