"""A router's long-running loops, one class per job, on one base (:class:`Loop`).

:mod:`eventbus.worker`'s ``Router`` is their supervisor: it builds them, starts them, hands each
reloaded rule set to those that route or deliver, and stops them.
"""

from eventbus.loops.base import TRANSIENT, Loop

__all__ = ["TRANSIENT", "Loop"]
