"""The rule-file models: what a YAML rule file may say, checked field by field (pydantic).

These models check shape and ranges only. Whether a pattern, a schedule, a target's own settings
or its input shaping actually compile is checked by :mod:`eventbus.config`, which calls the
compilers that own those languages.

Models are strict: YAML ``"3"`` is not the integer 3 and ``"yes"`` is not ``true``, so a rule
file means exactly what a JSON reader of it would think.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    field_validator,
    model_validator,
)

from eventbus.archives.spec import ArchiveSpec
from eventbus.connections import ConnectionSpec
from eventbus.errors import InvalidScheduleError
from eventbus.schedule.zones import in_range, load_zone
from eventbus.settings import DEFAULT_BUS

__all__ = [
    "BusConfig",
    "DeadLetter",
    "FlexibleTimeWindow",
    "InputTransformerSpec",
    "RetryPolicy",
    "Rule",
    "RuleFile",
    "TargetSpec",
]

# EventBridge's RuleName and TargetId patterns (both 1-64 characters).
NAME_PATTERN = r"^[.\-_A-Za-z0-9]+$"
# EventBridge's NonPartnerEventBusName pattern (1-256 characters).
BUS_NAME_PATTERN = r"^[.\-_A-Za-z0-9]+$"
MAX_TARGETS_PER_RULE = 5


def _schedulable(moment: datetime) -> datetime:
    """``moment`` if a schedule can use it (years 1970-2199); refused otherwise, rather than
    overflowing later when it is converted to UTC."""
    try:
        in_range(moment, "date")
    except InvalidScheduleError as e:
        raise ValueError(e.reason) from None
    return moment


# RFC 3339 text with an offset; YAML leaves it a string, so lax parsing is wanted here.
Timestamp = Annotated[AwareDatetime, Strict(False), AfterValidator(_schedulable)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DeadLetter(_Model):
    """Where deliveries go once retries are exhausted or the target refused them for good."""

    stream: str = Field(min_length=1, description="Redis stream receiving the dead letters.")


class RetryPolicy(_Model):
    """EventBridge's RetryPolicy: retries stop when either limit is reached."""

    maximum_retry_attempts: int = Field(default=185, ge=0, le=185)
    maximum_event_age_seconds: int = Field(default=86_400, ge=60, le=86_400)


class InputTransformerSpec(_Model):
    """EventBridge's InputTransformer: JSONPaths to variables, and a template using them."""

    input_paths: dict[str, str] = Field(default_factory=dict)
    input_template: str = Field(min_length=1)


class TargetSpec(BaseModel):
    """One target of a rule: the common fields below, plus its type's own settings (``url``,
    ``stream``, ...), which that type's ``config_model`` checks when rules load."""

    model_config = ConfigDict(extra="allow", strict=True, frozen=True)

    id: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    type: str = Field(min_length=1, description="A target type: built-in or an installed plugin.")
    input: Any = Field(default=None, description="A constant delivered instead of the event.")
    input_path: str | None = Field(default=None, min_length=1, max_length=256)
    input_transformer: InputTransformerSpec | None = None
    retry_policy: RetryPolicy = Field(default_factory=RetryPolicy)
    dead_letter: DeadLetter | None = None
    emit_outcome: bool = False

    @property
    def has_input(self) -> bool:
        """Whether ``input`` was written (``input: null`` is a constant ``null``)."""
        return "input" in self.model_fields_set

    def type_settings(self) -> dict[str, Any]:
        """The fields not common to every target: what the type's ``config_model`` validates."""
        return dict(self.model_extra or {})


class FlexibleTimeWindow(_Model):
    """EventBridge Scheduler's FlexibleTimeWindow: fire at some point within the window."""

    mode: Literal["OFF", "FLEXIBLE"] = "OFF"
    maximum_window_minutes: int | None = Field(default=None, ge=1, le=1440)

    @model_validator(mode="after")
    def _window_when_flexible(self) -> FlexibleTimeWindow:
        if self.mode == "FLEXIBLE" and self.maximum_window_minutes is None:
            raise ValueError("maximum_window_minutes is required when mode is FLEXIBLE")
        return self


class Rule(_Model):
    """One rule: an event pattern, a schedule, or both, and up to five targets."""

    name: str = Field(min_length=1, max_length=64, pattern=NAME_PATTERN)
    description: str | None = Field(default=None, max_length=512)
    state: Literal["ENABLED", "DISABLED"] = "ENABLED"
    event_pattern: Any = Field(
        default=None,
        description="An EventBridge event pattern, as a mapping or as JSON text.",
        json_schema_extra={"type": ["object", "string"]},
    )
    schedule_expression: str | None = Field(
        default=None, min_length=1, max_length=256, description="cron(...), rate(...) or at(...)."
    )
    timezone: str = Field(default="UTC", description="IANA time zone for cron(...) and at(...).")
    start_date: Timestamp | None = None
    end_date: Timestamp | None = None
    flexible_time_window: FlexibleTimeWindow | None = None
    catch_up: Literal["none", "latest", "all"] = "latest"
    targets: list[TargetSpec] = Field(default_factory=list, max_length=MAX_TARGETS_PER_RULE)

    @field_validator("event_pattern")
    @classmethod
    def _pattern_is_object_or_text(cls, value: Any) -> Any:
        if value is not None and not isinstance(value, dict | str):
            raise ValueError("an event pattern must be a mapping or JSON text")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            load_zone(value)
        except InvalidScheduleError as e:
            raise ValueError(e.reason) from None
        return value

    @field_validator("end_date")
    @classmethod
    def _end_after_start(cls, value: datetime | None, info: Any) -> datetime | None:
        start = info.data.get("start_date")
        if value is not None and start is not None and value <= start:
            raise ValueError("end_date must be after start_date")
        return value

    @field_validator("targets")
    @classmethod
    def _unique_target_ids(cls, value: list[TargetSpec]) -> list[TargetSpec]:
        ids = [t.id for t in value]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"target ids must be unique in a rule; repeated: {repeated}")
        return value

    @model_validator(mode="after")
    def _pattern_or_schedule(self) -> Rule:
        if self.event_pattern is None and self.schedule_expression is None:
            raise ValueError("a rule needs an event_pattern, a schedule_expression, or both")
        return self


class BusConfig(_Model):
    """Bus-level settings, written in at most one rule file per bus."""

    partitions: int = Field(default=1, ge=1, le=1024, description="Streams the bus is spread over.")
    max_len: int | None = Field(default=None, ge=1, description="Entries kept per partition.")
    max_age_seconds: int | None = Field(default=None, ge=1, description="Entry retention.")
    retry_backoff_base_seconds: float = Field(default=1.0, gt=0)
    retry_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    dead_letter: DeadLetter | None = Field(
        default=None, description="Dead letters of targets that name no dead_letter of their own."
    )
    max_hops: int | None = Field(default=None, ge=0, description="Bus-to-bus hops before a loop.")


class RuleFile(_Model):
    """A rule file: the rules of one bus, optionally that bus's settings, and connections
    (account-wide, for workflow HTTP tasks: see :mod:`eventbus.connections`)."""

    bus: str = Field(default=DEFAULT_BUS, min_length=1, max_length=256, pattern=BUS_NAME_PATTERN)
    bus_config: BusConfig | None = None
    connections: list[ConnectionSpec] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    archives: list[ArchiveSpec] = Field(default_factory=list)
