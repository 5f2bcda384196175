"""State machines and activities created over the Step Functions API, kept in Redis.

Each kind is one hash per account (``keys.sfn_machines`` / ``keys.sfn_activities``): name → the
record as JSON. Every change is one command or one script on that single key, so it is atomic
and cluster-safe: creating stores a record only when the name is free (and hands back the record
already there otherwise, for AWS's idempotent-create rule); replacing stores a new revision only
over the revision the caller read, so two concurrent updates cannot lose one another.

Machines from workflow files are not kept here: :class:`MachineFiles` is how the API reads them,
and they stay read-only over it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import orjson
from redis.asyncio import Redis

from eventbus import keys

__all__ = [
    "NO_FILES",
    "FileMachine",
    "MachineFiles",
    "Registry",
    "StoredActivity",
    "StoredMachine",
    "activities",
    "machines",
]


class FileMachine(Protocol):
    """A state machine loaded from a workflow file (``workflows/NAME.asl.json``)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...  # STANDARD or EXPRESS

    @property
    def text(self) -> str: ...  # the definition as JSON text

    @property
    def version(self) -> str: ...  # changes whenever the file's type or definition does

    @property
    def source(self) -> str: ...  # the file, as a user would name it


class MachineFiles(Protocol):
    """The state machines of the workflow files, by name (the file catalog fits it)."""

    def get(self, name: str) -> FileMachine | None: ...

    def __iter__(self) -> Iterator[FileMachine]: ...


class _NoFiles:
    """No workflow files: the gateway's catalog until its host gives it one."""

    def get(self, name: str) -> FileMachine | None:
        return None

    def __iter__(self) -> Iterator[FileMachine]:
        return iter(())


NO_FILES: MachineFiles = _NoFiles()


@dataclass(frozen=True, slots=True)
class StoredMachine:
    """One API-created state machine; dates in epoch milliseconds, configurations as AWS
    shapes them."""

    name: str
    type: str
    definition: str
    role_arn: str
    creation_ms: int
    revision_id: str
    update_ms: int | None = None
    logging: dict[str, Any] = field(default_factory=dict)
    tracing: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredActivity:
    name: str
    creation_ms: int


# Store ARGV[2] under field ARGV[1] unless the field is taken; answer what was there (nil when
# the new record went in).
_PUT_IF_ABSENT = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then return current end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return false
"""
# Store ARGV[3] under ARGV[1] only if the record there has revision ARGV[2]: 1 stored,
# 0 another revision is there (read again), -1 the record is gone.
_REPLACE_REVISION = """
local current = redis.call('HGET', KEYS[1], ARGV[1])
if not current then return -1 end
if cjson.decode(current)['revision_id'] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


R = TypeVar("R", StoredMachine, StoredActivity)


class Registry(Generic[R]):
    """The records of one kind for one account, in one hash."""

    def __init__(self, redis: Redis, key: str, kind: type[R]) -> None:
        self.redis = redis
        self.key = key
        self.kind: type[R] = kind
        self._put_if_absent = redis.register_script(_PUT_IF_ABSENT)
        self._replace_revision = redis.register_script(_REPLACE_REVISION)

    def _load(self, raw: bytes | str) -> R:
        fields: dict[str, Any] = orjson.loads(raw)
        record: R = self.kind(**fields)
        return record

    async def create(self, record: R) -> R | None:
        """Store ``record`` if its name is free; otherwise the record already there."""
        current = await self._put_if_absent(
            keys=[self.key], args=[record.name, orjson.dumps(asdict(record))]
        )
        return None if current is None else self._load(current)

    async def get(self, name: str) -> R | None:
        raw = await self.redis.hget(self.key, name)
        return None if raw is None else self._load(raw)

    async def replace(self, revision_id: str, record: R) -> bool | None:
        """Store ``record`` over the revision ``revision_id`` of its name: True when stored,
        False when another revision is there now, None when the name is gone."""
        done = await self._replace_revision(
            keys=[self.key], args=[record.name, revision_id, orjson.dumps(asdict(record))]
        )
        return None if done == -1 else bool(done)

    async def delete(self, name: str) -> None:
        await self.redis.hdel(self.key, name)

    async def all(self) -> list[R]:
        raw = await self.redis.hvals(self.key)
        return [self._load(value) for value in raw]


def machines(redis: Redis, account: str) -> Registry[StoredMachine]:
    return Registry(redis, keys.sfn_machines(account), StoredMachine)


def activities(redis: Redis, account: str) -> Registry[StoredActivity]:
    return Registry(redis, keys.sfn_activities(account), StoredActivity)
