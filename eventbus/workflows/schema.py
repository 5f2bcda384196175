"""What each part of a state machine may hold, as data: the validator reads these tables
instead of branching per state type.

Sources: the Amazon States Language specification, the Step Functions developer guide (state
pages, "Transforming data with JSONata"), and what ValidateStateMachineDefinition answers.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "BRANCH_FIELDS",
    "CATCHER_FIELDS",
    "COMMON_STATE_FIELDS",
    "EXCLUSIVE_FIELDS",
    "INTEGER_RANGES",
    "INVALID_PATH",
    "JSONATA_ONLY",
    "JSONPATH_ONLY",
    "JSONPATH_STRING_FIELDS",
    "MACHINE_FIELDS",
    "NOT_A_REFERENCE_PATH",
    "OPTIMIZED_INTEGRATIONS",
    "PAYLOAD_TEMPLATES",
    "PROCESSOR_FIELDS",
    "QUERY_LANGUAGES",
    "REFERENCE_PATH_FIELDS",
    "REQUIRED_FIELDS",
    "RETRIER_FIELDS",
    "RETRIER_RANGES",
    "STATE_FIELDS",
    "STATE_TYPES",
    "TRANSITION_TYPES",
    "language_field_message",
]

QUERY_LANGUAGES: Final = ("JSONPath", "JSONata")

# In the order AWS lists them in its message about an unknown Type.
STATE_TYPES: Final = ("Task", "Wait", "Pass", "Succeed", "Fail", "Choice", "Parallel", "Map")

MACHINE_FIELDS: Final = frozenset(
    {"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"}
)
BRANCH_FIELDS: Final = frozenset({"StartAt", "States", "Comment"})
PROCESSOR_FIELDS: Final = BRANCH_FIELDS | {"ProcessorConfig"}

COMMON_STATE_FIELDS: Final = frozenset({"Type", "Comment", "QueryLanguage"})

# Every field each state type accepts besides the common ones, whatever the query language.
STATE_FIELDS: Final[dict[str, frozenset[str]]] = {
    "Pass": frozenset(
        {"InputPath", "OutputPath", "Result", "ResultPath", "Parameters", "Output", "Assign"}
        | {"Next", "End"}
    ),
    "Task": frozenset(
        {"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector"}
        | {"Arguments", "Output", "Assign", "Resource", "Credentials", "Retry", "Catch"}
        | {"TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"}
        | {"Next", "End"}
    ),
    "Wait": frozenset(
        {"InputPath", "OutputPath", "Output", "Assign"}
        | {"Seconds", "Timestamp", "SecondsPath", "TimestampPath", "Next", "End"}
    ),
    "Parallel": frozenset(
        {"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector"}
        | {"Arguments", "Output", "Assign", "Retry", "Catch", "Branches", "Next", "End"}
    ),
    "Map": frozenset(
        {"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector"}
        | {"Output", "Assign", "Retry", "Catch", "ItemProcessor", "Iterator"}
        | {"ItemsPath", "Items", "ItemSelector", "ItemReader", "ItemBatcher", "ResultWriter"}
        | {"MaxConcurrency", "MaxConcurrencyPath", "Label"}
        | {"ToleratedFailurePercentage", "ToleratedFailurePercentagePath"}
        | {"ToleratedFailureCount", "ToleratedFailureCountPath", "Next", "End"}
    ),
    "Choice": frozenset({"InputPath", "OutputPath", "Output", "Assign", "Choices", "Default"}),
    "Succeed": frozenset({"InputPath", "OutputPath", "Output"}),
    "Fail": frozenset({"Error", "Cause", "ErrorPath", "CausePath"}),
}

# The types that move on with Next or stop with End (Choice, Succeed and Fail do neither).
TRANSITION_TYPES: Final = frozenset({"Task", "Pass", "Wait", "Parallel", "Map"})

# Missing fields are reported together, in this order, as "These fields are required: [...]".
REQUIRED_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "Task": ("Resource",),
    "Choice": ("Choices",),
    "Parallel": ("Branches",),
}

# Fields only one query language has; a state of the other language refuses them.
JSONPATH_ONLY: Final = frozenset(
    {"InputPath", "OutputPath", "ResultPath", "Parameters", "ResultSelector", "Result"}
    | {"ItemsPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath"}
    | {"TimestampPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath"}
    | {"ToleratedFailureCountPath", "ErrorPath", "CausePath"}
)
JSONATA_ONLY: Final = frozenset({"Arguments", "Output", "Items"})

# Pairs of which a state may set at most one (reported at the first field of the pair).
EXCLUSIVE_FIELDS: Final = (
    ("TimeoutSeconds", "TimeoutSecondsPath"),
    ("HeartbeatSeconds", "HeartbeatSecondsPath"),
    ("MaxConcurrency", "MaxConcurrencyPath"),
    ("ToleratedFailurePercentage", "ToleratedFailurePercentagePath"),
    ("ToleratedFailureCount", "ToleratedFailureCountPath"),
    ("Error", "ErrorPath"),
    ("Cause", "CausePath"),
    ("ItemProcessor", "Iterator"),
)

# JSONPath fields holding a path that may select anything (null allowed where AWS allows it).
JSONPATH_STRING_FIELDS: Final = frozenset(
    {"InputPath", "OutputPath", "TimeoutSecondsPath", "HeartbeatSecondsPath", "SecondsPath"}
    | {"TimestampPath", "MaxConcurrencyPath", "ToleratedFailurePercentagePath"}
    | {"ToleratedFailureCountPath", "ErrorPath", "CausePath"}
)
# JSONPath fields that must name exactly one node.
REFERENCE_PATH_FIELDS: Final = frozenset({"ResultPath", "ItemsPath"})
# Objects whose `.$` keys hold paths or intrinsic function calls.
PAYLOAD_TEMPLATES: Final = frozenset({"Parameters", "ResultSelector", "ItemSelector"})

# Integer fields: (minimum, maximum or None). A JSONata state may give an expression instead.
INTEGER_RANGES: Final[dict[str, tuple[int, int | None]]] = {
    "TimeoutSeconds": (1, 99999999),
    "HeartbeatSeconds": (1, 99999999),
    "Seconds": (0, 99999999),
    "MaxConcurrency": (0, None),
    "ToleratedFailurePercentage": (0, 100),
    "ToleratedFailureCount": (0, None),
}

RETRIER_FIELDS: Final = frozenset(
    {"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds"}
    | {"JitterStrategy", "Comment"}
)
# Number fields of a retrier: (minimum, maximum or None, integer only).
RETRIER_RANGES: Final[dict[str, tuple[float, float | None, bool]]] = {
    "IntervalSeconds": (0, 99999999, True),
    "MaxAttempts": (0, 99999999, True),
    "BackoffRate": (1.0, None, False),
    "MaxDelaySeconds": (1, 31622400, True),
}
CATCHER_FIELDS: Final = frozenset(
    {"ErrorEquals", "Next", "ResultPath", "Output", "Assign", "Comment"}
)

# The optimized integrations whose API list is short and fixed: a Resource of the form
# `arn:<partition>:states:::<service>:<api>` naming another API of these services is refused.
# Other services (and every `aws-sdk:` resource) are accepted as written.
OPTIMIZED_INTEGRATIONS: Final[dict[str, frozenset[str]]] = {
    "dynamodb": frozenset({"getItem", "putItem", "updateItem", "deleteItem"}),
    "lambda": frozenset({"invoke", "invoke.waitForTaskToken"}),
    "sns": frozenset({"publish", "publish.waitForTaskToken"}),
    "sqs": frozenset({"sendMessage", "sendMessage.waitForTaskToken"}),
    "events": frozenset({"putEvents", "putEvents.waitForTaskToken"}),
    "apigateway": frozenset({"invoke", "invoke.waitForTaskToken"}),
    "states": frozenset(
        {"startExecution", "startExecution.sync", "startExecution.sync:2"}
        | {"startExecution.waitForTaskToken"}
    ),
}


# AWS's texts for a path that does not compile, and for one that may select several nodes.
INVALID_PATH = "Value must be a valid JSONPath."
NOT_A_REFERENCE_PATH = "Value is not a Reference Path"


def language_field_message(language: str, field: str) -> str:
    """AWS's text for a field the state's query language does not have."""
    other = "JSONPath" if language == "JSONata" else "JSONata"
    return (
        f"The QueryLanguage is set to '{language}', but field '{field}' is only supported "
        f"for the '{other}' QueryLanguage"
    )
