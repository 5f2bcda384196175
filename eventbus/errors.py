"""Every exception eventbus raises on purpose.

The tree::

    EventBusError
    ├─ InvalidPatternError(EventBusError, ValueError)    .path, .reason (EventBridge's reason text)
    ├─ InvalidTransformError(EventBusError, ValueError)  .field, .reason
    ├─ InvalidScheduleError(EventBusError, ValueError)   .field (cron field or form), .reason
    ├─ InvalidEventError(EventBusError, ValueError)      .code, .message (one PutEvents entry)
    ├─ RuleFileError(EventBusError, ValueError)          .problems, .warnings: list[RuleProblem]
    │  └─ WorkflowFileError                              workflow files (workflows/*.asl.json)
    ├─ ArnError(EventBusError, ValueError)               a target ARN eventbus cannot deliver to
    ├─ MatchBudgetExceededError                          .budget; an event too costly to match
    ├─ InvalidDefinition(EventBusError, ValueError)      .code, .message, .diagnostics (ASL)
    ├─ InvalidExpression(EventBusError, ValueError)      .expression, .reason; an ASL JSONPath or
    │                                                    intrinsic function call that does not parse
    ├─ StatesError                                       .error, .cause; a workflow failure,
    │  │                                                 named as Step Functions names it
    │  ├─ TaskFailed                                     raised by a task to fail its Task state
    │  └─ HistoryLimitReached                            a full history (25,000 events)
    ├─ BusError                                          Redis side; raised `from` the cause
    │  └─ BusTimeout                                     Redis did not answer within a deadline
    └─ TargetError                                       .retryable; a delivery that did not succeed
       ├─ TargetTimeout                                  retryable
       └─ TargetRejected                                 permanent: dead-lettered at once

Subclassing ``ValueError`` keeps ``except ValueError`` working for callers that validate input.
Messages say where (field path, or file:line and rule), what was found and what was expected.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "ArnError",
    "BusError",
    "BusTimeout",
    "EventBusError",
    "ExecutionAlreadyExists",
    "ExecutionDoesNotExist",
    "HistoryLimitReached",
    "InvalidDefinition",
    "InvalidEventError",
    "InvalidExpression",
    "InvalidOutput",
    "InvalidPatternError",
    "InvalidScheduleError",
    "InvalidToken",
    "InvalidTransformError",
    "MatchBudgetExceededError",
    "RuleFileError",
    "RuleProblem",
    "StateMachineDoesNotExist",
    "StateMachineTypeNotSupported",
    "StatesError",
    "TargetError",
    "TargetRejected",
    "TargetTimeout",
    "TaskDoesNotExist",
    "TaskFailed",
    "TaskTimedOut",
    "WorkflowFileError",
]


class EventBusError(Exception):
    """Base of every error eventbus raises on purpose."""


class InvalidPatternError(EventBusError, ValueError):
    """An event pattern EventBridge would refuse.

    ``path`` is the dotted field path where the problem is (empty for the whole pattern);
    ``reason`` is EventBridge's own reason text, so ``str()`` reads ``<path>: <reason>``.
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class InvalidTransformError(EventBusError, ValueError):
    """An Input, InputPath or InputTransformer that cannot work, or an output that is not valid."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidScheduleError(EventBusError, ValueError):
    """A schedule expression, time zone or window that is not valid; ``field`` names the part."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


class InvalidEventError(EventBusError, ValueError):
    """One PutEvents entry refused; ``code`` and ``message`` are what PutEvents answers for it."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One thing wrong in a rule file, located as precisely as is known."""

    file: str
    message: str
    line: int | None = None
    rule: str | None = None
    field: str | None = None
    # A warning is printed but does not stop the rules from loading.
    warning: bool = False

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.rule:
            parts.append(f"rule {self.rule}")
        if self.field:
            parts.append(self.field)
        if self.warning:
            parts.append("warning")
        return f"{': '.join(parts)}: {self.message}"


class RuleFileError(EventBusError, ValueError):
    """Rule files that do not load; ``problems`` lists every error found, not just the first."""

    def __init__(self, problems: list[RuleProblem], warnings: Sequence[RuleProblem] = ()) -> None:
        self.problems = problems
        self.warnings = list(warnings)  # found alongside the errors, printed with them
        super().__init__("\n".join(str(p) for p in problems))


class WorkflowFileError(RuleFileError):
    """Workflow files (``workflows/NAME.asl.json``) that do not load, every problem listed as a
    rule file's are. A kind of rule file error: the two sets are loaded, refused and reloaded
    together, so whatever handles one handles the other."""


class ArnError(EventBusError, ValueError):
    """An ARN that names nothing eventbus can deliver to; the message says what to write."""


class MatchBudgetExceededError(EventBusError):
    """Matching one event took more than ``budget`` matcher steps (``EVENTBUS_MATCH_BUDGET``).

    Deterministic: the same event against the same rules always spends the same steps.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        super().__init__(
            f"matching the event took more than {budget:,} steps (EVENTBUS_MATCH_BUDGET); "
            "an event with fewer or smaller arrays under the fields the rules name fits"
        )


class InvalidDefinition(EventBusError, ValueError):
    """A state machine definition Step Functions would refuse.

    ``code`` is AWS's error code (``InvalidDefinition``), ``message`` AWS's text
    (``Invalid State Machine Definition: 'SCHEMA_VALIDATION_FAILED: ...'``) and ``diagnostics``
    every problem found, as ``ValidateStateMachineDefinition`` lists them: dicts with ``code``,
    ``message`` and ``location`` (a JSON pointer such as ``/States/State0/Next``).
    """

    def __init__(
        self,
        message: str,
        diagnostics: Sequence[dict[str, str]] = (),
        *,
        code: str = "InvalidDefinition",
    ) -> None:
        self.code = code
        self.message = message
        self.diagnostics = list(diagnostics)
        super().__init__(message)


class InvalidExecutionInput(EventBusError, ValueError):
    """An execution's input is not JSON text, as ``StartExecution`` refuses it."""


class RequestRejected(EventBusError, ValueError):
    """A Step Functions API request refused as AWS refuses it: ``code`` is AWS's error code
    (``ValidationException``), ``message`` its text."""

    def __init__(self, message: str, *, code: str = "ValidationException") -> None:
        self.code = code
        self.message = message
        super().__init__(message)


class ExecutionAlreadyExists(RequestRejected):
    """StartExecution with the name of an execution that has closed, or that runs with another
    input (AWS's rule for Standard workflows)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ExecutionAlreadyExists")


class ExecutionDoesNotExist(RequestRejected):
    """No execution has this ARN."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ExecutionDoesNotExist")


class ExecutionNotRedrivable(RequestRejected):
    """RedriveExecution of an execution that cannot be redriven; the message is AWS's reason."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="ExecutionNotRedrivable")


class StateMachineDoesNotExist(RequestRejected):
    """No state machine has this name or ARN."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="StateMachineDoesNotExist")


class StateMachineTypeNotSupported(RequestRejected):
    """An operation the machine's type does not have: StartSyncExecution of a STANDARD machine,
    ListExecutions of an EXPRESS one."""

    def __init__(self, message: str = "This operation is not supported by this type of state "
                 "machine") -> None:
        super().__init__(message, code="StateMachineTypeNotSupported")


class TaskDoesNotExist(RequestRejected):
    """SendTask* with a token no waiting task of a running execution has."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="TaskDoesNotExist")


class TaskTimedOut(RequestRejected):
    """SendTask* with the token of a task that has timed out or already been answered."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="TaskTimedOut")


class InvalidToken(RequestRejected):
    """A task token that is not one this engine issued (malformed)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InvalidToken")


class InvalidOutput(RequestRejected):
    """SendTaskSuccess with an output that is not JSON text."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="InvalidOutput")


class InvalidExpression(EventBusError, ValueError):
    """An ASL JSONPath or intrinsic function call (``States.Format(...)``) that does not parse.

    Raised when the text is compiled, before any data is read: definition validation turns it
    into AWS's ``SCHEMA_VALIDATION_FAILED`` diagnostic, and at run time it never gets that far.
    """

    def __init__(self, expression: str, reason: str) -> None:
        self.expression = expression
        self.reason = reason
        super().__init__(f"{expression!r}: {reason}")


class StatesError(EventBusError):
    """A failure inside a workflow execution, as Step Functions reports it.

    ``error`` is the error name that ``Retry`` and ``Catch`` match (``States.Runtime``,
    ``States.TaskFailed``, a task's own name, ...); ``cause`` AWS's human-readable text.
    """

    def __init__(self, error: str, cause: str | None = None) -> None:
        self.error = error
        self.cause = cause
        super().__init__(f"{error}: {cause}" if cause else error)


class TaskFailed(StatesError):
    """Raised by a task callable to fail its Task state with ``error`` and ``cause``."""


class HistoryLimitReached(StatesError):
    """The execution's history is full: AWS fails it with this cause alone, not located at the
    state that was running (``States.Runtime``)."""


class BusError(EventBusError):
    """Redis could not do what the bus asked; always raised from the redis-py error."""


class BusTimeout(BusError):
    """Redis did not answer within the deadline of the call; raised from the ``TimeoutError``.
    What the call wrote, if anything, is unknown."""


class TargetError(EventBusError):
    """A delivery that did not succeed; ``retryable`` says whether trying again may help.

    ``code`` is the dead-letter error code (e.g. ``HTTP_503``, ``TIMEOUT``).
    ``retry_after`` is a delay in seconds the target asked for (HTTP ``Retry-After``), if any.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = True,
        code: str = "TARGET_ERROR",
        retry_after: float | None = None,
    ) -> None:
        self.retryable = retryable
        self.code = code
        self.retry_after = retry_after
        super().__init__(message)


class TargetTimeout(TargetError):
    """The target did not answer in time; retryable."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, code="TIMEOUT")


class TargetRejected(TargetError):
    """The target refused the delivery for good; dead-lettered without retrying."""

    def __init__(self, message: str, *, code: str = "TARGET_REJECTED") -> None:
        super().__init__(message, retryable=False, code=code)
