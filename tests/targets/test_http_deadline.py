"""The total deadline of HTTP exchanges, one timer for all of a target's requests: a block past
its deadline fails as a retryable TIMEOUT, whatever ended in time before it, nested or not, and
a cancellation from elsewhere stays one."""

from __future__ import annotations

import asyncio

import pytest

from eventbus.errors import TargetTimeout
from eventbus.targets.http_deadline import Deadlines

FOREVER = 3600.0


async def sleep_within(deadlines: Deadlines, seconds: float, sleep: float, what: str = "x") -> str:
    async with deadlines.within(seconds, what):
        await asyncio.sleep(sleep)
    return "done"


@pytest.mark.timeout(10)
async def test_a_block_past_its_deadline_fails_as_a_retryable_timeout() -> None:
    with pytest.raises(TargetTimeout) as err:
        await sleep_within(Deadlines(), 0.05, FOREVER, "POST http://h/x")
    assert (err.value.retryable, err.value.code) == (True, "TIMEOUT")
    assert str(err.value) == "POST http://h/x: no complete answer within 0.05 s"


@pytest.mark.timeout(10)
async def test_blocks_that_end_in_time_leave_the_next_ones_deadlines_kept() -> None:
    deadlines = Deadlines()
    # Many blocks end well within a deadline, some in flight together
    for _ in range(3):
        assert (
            await asyncio.gather(*(sleep_within(deadlines, FOREVER, 0) for _ in range(5)))
            == ["done"] * 5
        )
    # Then one that overruns a shorter deadline among others still fails, and only it
    results = await asyncio.gather(
        sleep_within(deadlines, FOREVER, 0.01),
        sleep_within(deadlines, 0.05, FOREVER),
        sleep_within(deadlines, FOREVER, 0.01),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["str", "TargetTimeout", "str"]


@pytest.mark.timeout(10)
async def test_a_nested_block_past_its_own_deadline_fails_and_the_outer_one_goes_on() -> None:
    deadlines = Deadlines()
    async with deadlines.within(FOREVER, "outer"):
        with pytest.raises(TargetTimeout, match=r"^inner"):
            await sleep_within(deadlines, 0.05, FOREVER, "inner")
        await asyncio.sleep(0)  # the outer block's task is not left cancelled
    with pytest.raises(TargetTimeout, match=r"^outer"):
        async with deadlines.within(0.05, "outer"):
            await sleep_within(deadlines, FOREVER, FOREVER, "inner")


@pytest.mark.timeout(10)
async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    task = asyncio.create_task(sleep_within(Deadlines(), FOREVER, FOREVER))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.timeout(10)
def test_deadlines_are_kept_on_each_new_event_loop() -> None:
    deadlines = Deadlines()
    for _ in range(2):
        with pytest.raises(TargetTimeout):
            asyncio.run(sleep_within(deadlines, 0.05, FOREVER))
