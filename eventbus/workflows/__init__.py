"""Amazon States Language workflows: validate a state machine definition and run it.

The core is pure: a deterministic step function (``step.py``) over the definition, the
execution so far and one input; ``run_local`` drives it in-process on a virtual clock.
"""

from eventbus.errors import TaskFailed
from eventbus.workflows.definition import validate_definition
from eventbus.workflows.local import run_local
from eventbus.workflows.test_state import test_state

__all__ = ["TaskFailed", "run_local", "test_state", "validate_definition"]
