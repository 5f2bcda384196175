"""The python target: sync callables in a thread, async ones awaited; error classification."""

from __future__ import annotations

import threading

import pytest

from eventbus.errors import TargetError
from eventbus.targets.base import TargetServices
from eventbus.targets.python_call import PythonConfig, PythonTarget

from . import handlers
from .conftest import make_ctx

SERVICES = TargetServices(redis=None)


def target(function: str, **extra: object) -> PythonTarget:
    return PythonTarget(PythonConfig.model_validate({"function": function, **extra}), SERVICES)


async def test_sync_function_runs_in_a_worker_thread_and_returns_its_outcome() -> None:
    handlers.CALLS.clear()
    outcome = await target("targets.handlers:sync_handler").send("p1", make_ctx())
    assert outcome == {"handled": "p1"}
    [(thread, payload, delivery_id)] = handlers.CALLS
    assert thread != threading.current_thread().name
    assert (payload, delivery_id) == ("p1", make_ctx().delivery_id)


async def test_async_function_is_awaited() -> None:
    handlers.CALLS.clear()
    assert await target("targets.handlers:async_handler").send("p2", make_ctx()) is None
    assert [("async", "p2", make_ctx().delivery_id)] == handlers.CALLS


async def test_an_exception_is_retryable_and_names_it() -> None:
    with pytest.raises(TargetError) as err:
        await target("targets.handlers:failing_handler").send("p", make_ctx())
    assert err.value.retryable
    assert err.value.code == "PYTHON_ERROR"
    assert "RuntimeError: database is down" in str(err.value)


async def test_target_rejected_is_permanent_and_kept_as_raised() -> None:
    with pytest.raises(TargetError) as err:
        await target("targets.handlers:refusing_handler").send("p", make_ctx())
    assert (err.value.retryable, err.value.code) == (False, "UNKNOWN_ORDER")


async def test_timeout_is_a_retryable_timeout() -> None:
    with pytest.raises(TargetError) as err:
        await target("targets.handlers:slow_handler", timeout_seconds=0.05).send("p", make_ctx())
    assert (err.value.retryable, err.value.code) == (True, "TIMEOUT")


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("targets.no_such_module:f", "cannot import module"),
        ("targets.handlers:missing", "has no attribute"),
        ("targets.handlers:not_callable", "is not callable"),
    ],
)
def test_unresolvable_function_is_refused_at_build(function: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        target(function)


def test_function_must_be_module_colon_name() -> None:
    with pytest.raises(ValueError, match="function"):
        PythonConfig.model_validate({"function": "handlers.sync_handler"})
