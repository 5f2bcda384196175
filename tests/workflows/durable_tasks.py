"""Tasks the worker processes of the tests call (``--tasks
tests.workflows.durable_tasks:TASKS``), and the same tasks for ``run_local``."""

from __future__ import annotations

import asyncio
from typing import Any


def double(data: Any) -> Any:
    return {"n": data["n"], "double": data["n"] * 2}


async def slow_double(data: Any) -> Any:
    await asyncio.sleep(0.05)
    return double(data)


TASKS = {"double": slow_double}
LOCAL_TASKS = {"double": double}
