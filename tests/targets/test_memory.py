"""The memory target: records deliveries, can be told to fail first."""

from __future__ import annotations

import pytest

from eventbus.errors import TargetError
from eventbus.targets import memory
from eventbus.targets.base import TargetServices
from eventbus.targets.memory import MemoryConfig, MemoryTarget

from .conftest import make_ctx

SERVICES = TargetServices(redis=None)


async def test_named_targets_record_into_the_registry() -> None:
    memory.forget("m")
    target = MemoryTarget(MemoryConfig(name="m"), SERVICES)
    await target.send("p", make_ctx())
    assert [r.payload for r in memory.recorded("m")] == ["p"]
    memory.forget("m")


@pytest.mark.parametrize("permanent", [False, True])
async def test_fail_first_then_succeeds(permanent: bool) -> None:
    target = MemoryTarget(MemoryConfig(fail_first=1, fail_permanently=permanent), SERVICES)
    with pytest.raises(TargetError) as err:
        await target.send("p", make_ctx())
    assert err.value.retryable is not permanent
    await target.send("p", make_ctx())
    assert len(target.deliveries) == 1
