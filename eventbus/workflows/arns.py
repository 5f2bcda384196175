"""Step Functions ARNs of the durable engine (pure): ``arn:aws:states:<region>:<account>:...``
with the region and account of the settings (``EVENTBUS_REGION``, ``EVENTBUS_ACCOUNT``), as
every other ARN eventbus shows.

An execution keeps the region and account its ARN was made with: what is derived from it (its
state machine's ARN, its context object, its task tokens) reads them from the ARN, so changing
the settings changes only what is created afterwards.
"""

from __future__ import annotations

from eventbus.settings import Settings, get_settings

__all__ = ["execution_arn", "execution_prefix", "identity_of", "machine_arn_of", "states_arn"]


def states_arn(kind: str, name: str, settings: Settings | None = None) -> str:
    """``arn:aws:states:<region>:<account>:<kind>:<name>`` (``stateMachine``, ``activity``)."""
    s = settings or get_settings()
    return f"arn:aws:states:{s.region}:{s.account}:{kind}:{name}"


def execution_prefix(machine: str, settings: Settings | None = None) -> str:
    """What the ARNs of ``machine``'s executions start with."""
    return states_arn("execution", f"{machine}:", settings)


def execution_arn(machine: str, name: str, settings: Settings | None = None) -> str:
    return execution_prefix(machine, settings) + name


def identity_of(arn: str) -> tuple[str, str]:
    """(region, account) of a Step Functions ARN."""
    parts = arn.split(":", 5)
    return parts[3], parts[4]


def machine_arn_of(execution: str) -> str:
    """The state machine ARN of an execution ARN (``...:execution:<machine>:<name>``)."""
    region, account = identity_of(execution)
    machine = execution.split(":")[6]
    return f"arn:aws:states:{region}:{account}:stateMachine:{machine}"
