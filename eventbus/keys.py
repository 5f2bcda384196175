"""Every Redis key name eventbus uses, built in one place.

The layout (documented key by key in ``docs/redis-layout.md``) puts each bus partition in its own
hash tag ``{<bus>#<p>}``, so one bus spans the slots of a Redis Cluster, while everything a single
publish touches atomically (a partition stream and its idempotency keys) shares one slot.
"""

from __future__ import annotations

__all__ = [
    "BUSES",
    "ROUTER_GROUP",
    "bus_config",
    "bus_partition",
    "bus_stream",
    "bus_streams",
    "idempotency",
]

# Set of every bus name that has ever been configured or published to.
BUSES = "eb:buses"
# The consumer group every router joins on every bus partition stream.
ROUTER_GROUP = "routers"


def bus_partition(bus: str, partition: int) -> str:
    """The hash tag of one partition of a bus: ``{<bus>#<p>}``."""
    return f"{{{bus}#{partition}}}"


def bus_stream(bus: str, partition: int) -> str:
    """The stream holding one partition of a bus's events: ``eb:{<bus>#<p>}:events``."""
    return f"eb:{bus_partition(bus, partition)}:events"


def bus_streams(bus: str, partitions: int) -> list[str]:
    """The streams of every partition of a bus, in partition order."""
    return [bus_stream(bus, p) for p in range(partitions)]


def idempotency(bus: str, partition: int, key: str) -> str:
    """A publish idempotency record, in the slot of the partition the key hashes to."""
    return f"eb:{bus_partition(bus, partition)}:idem:{key}"


def bus_config(bus: str) -> str:
    """The hash of a bus's runtime configuration (partitions, ...): ``eb:bus:{<bus>}:config``."""
    return f"eb:bus:{{{bus}}}:config"


# State machines and activities created over the Step Functions API: one hash per kind and
# account, both under the hash tag ``{sfn:<account>}``, so each change is one single-slot command
# or script. (Machines from workflow files are not stored: the files are their source.)
def sfn_machines(account: str) -> str:
    """Hash of an account's API-created state machines: name → JSON record."""
    return f"eb:{{sfn:{account}}}:machines"


def sfn_activities(account: str) -> str:
    """Hash of an account's activities: name → JSON record."""
    return f"eb:{{sfn:{account}}}:activities"


__all__ += ["sfn_activities", "sfn_machines"]


# Delivery side (router and deliverers). A (bus, rule, target) triple is one hash tag, so its
# queue and its retry set share a slot and a retry can move between them atomically.
DELIVERY_GROUP = "deliverers"


def delivery_tag(bus: str, rule: str, target: str) -> str:
    """The hash tag of one target's delivery keys: ``{<bus>/<rule>/<target>}``."""
    return f"{{{bus}/{rule}/{target}}}"


def delivery_queue(bus: str, rule: str, target: str) -> str:
    """The stream of deliveries waiting for one target: ``eb:{<bus>/<rule>/<target>}:q``."""
    return f"eb:{delivery_tag(bus, rule, target)}:q"


def delivery_retries(bus: str, rule: str, target: str) -> str:
    """The sorted set of deliveries waiting to be retried, scored by due time in ms."""
    return f"eb:{delivery_tag(bus, rule, target)}:retry"


def bus_dead_letters(bus: str) -> str:
    """Dead letters of targets naming no dead-letter stream, when the bus names none either."""
    return f"eb:{{{bus}}}:dlq"


def queue_wakes(bus: str) -> str:
    """Stream of a bus's queue wake-ups: each entry's field names are delivery queues written
    since, so routers read only those queues: ``eb:{<bus>}:wake``."""
    return f"eb:{{{bus}}}:wake"


def retry_due(bus: str) -> str:
    """Sorted set indexing a bus's retry sets: member = a delivery queue's name, score = the
    earliest due time (ms) of its retry set, or a claim on it: ``eb:{<bus>}:retry-due``."""
    return f"eb:{{{bus}}}:retry-due"


__all__ += [
    "DELIVERY_GROUP",
    "bus_dead_letters",
    "delivery_queue",
    "delivery_retries",
    "delivery_tag",
    "queue_wakes",
    "retry_due",
]


# Scheduler. A schedule rule's claims and state share the hash tag ``{<bus>/<rule>}``; the work
# stream of claimed firings is one per bus, so one XACK or XAUTOCLAIM covers many rules.
SCHEDULER_GROUP = "schedulers"


def schedule_tag(bus: str, rule: str) -> str:
    """The hash tag of one schedule rule's keys: ``{<bus>/<rule>}``."""
    return f"{{{bus}/{rule}}}"


def schedule_claims(bus: str, rule: str) -> str:
    """Sorted set of every firing ever claimed (live or backfill), as ranges of consecutive
    firings: member ``first:last:next:tag`` (ms), score ``last``; see docs/redis-layout.md.
    ``eb:sched:{<bus>/<rule>}:claims``."""
    return f"eb:sched:{schedule_tag(bus, rule)}:claims"


def schedule_state(bus: str, rule: str) -> str:
    """Hash of a schedule rule's ``first-seen`` and ``watermark`` (ms):
    ``eb:sched:{<bus>/<rule>}:state``."""
    return f"eb:sched:{schedule_tag(bus, rule)}:state"


def schedule_firings(bus: str) -> str:
    """Stream of a bus's claimed firings (fields ``rule``, ``scheduled``), group ``schedulers``;
    an entry stays pending until its deliveries are queued: ``eb:sched:{<bus>}:firings``."""
    return f"eb:sched:{{{bus}}}:firings"


__all__ += [
    "SCHEDULER_GROUP",
    "schedule_claims",
    "schedule_firings",
    "schedule_state",
    "schedule_tag",
]


# Operations: metrics, router heartbeats and target rate limits.

# Hash of every metric series of every process (field = series, value = count), so one HGETALL
# renders the page whichever router or gateway counted.
METRICS = "eb:metrics"
# Sorted set of router ids, scored by the Unix time of their last heartbeat.
ROUTERS = "eb:routers"
# Hash of each target's latest success and latest error (field = [labels, "success"|"error"]),
# written by the routers' once-a-second metrics flush for `eventbus status`.
TARGET_ACTIVITY = "eb:targets:activity"


def rate_limit(bus: str, rule: str, target: str) -> str:
    """The next free invocation slot of a rate-limited target, in its delivery keys' slot:
    ``eb:ratelimit:{<bus>/<rule>/<target>}``."""
    return f"eb:ratelimit:{delivery_tag(bus, rule, target)}"


def connection_rate_limit(name: str) -> str:
    """The next free invocation slot of a rate-limited connection (workflow HTTP tasks):
    ``eb:ratelimit:connection:{<name>}``."""
    return f"eb:ratelimit:connection:{{{name}}}"


__all__ += ["METRICS", "ROUTERS", "TARGET_ACTIVITY", "connection_rate_limit", "rate_limit"]


# Durable workflow executions. Executions are spread over WORKFLOW_PARTITIONS partitions by a
# hash of their ARN; everything of one partition (its executions' records, its work stream, its
# timers, its status-change outbox) shares the hash tag ``{wf:p<N>}``, so each step of an
# execution is one script on one slot and the partitions spread over a Redis Cluster.
WORKFLOW_PARTITIONS = 16
WORKFLOW_GROUP = "workflow-workers"


def workflow_tag(partition: int) -> str:
    """The hash tag of one workflow partition: ``{wf:p<N>}``."""
    return f"{{wf:p{partition}}}"


def workflow_execution(partition: int, arn: str) -> str:
    """Hash of one execution's record (name, status, input, output, history length, ...)."""
    return f"eb:{workflow_tag(partition)}:x:{arn}"


def workflow_history(partition: int, arn: str) -> str:
    """List of one execution's history events (JSON text), event id n at index n-1."""
    return f"eb:{workflow_tag(partition)}:h:{arn}"


def workflow_replies(partition: int, arn: str) -> str:
    """List of the replies fed to one execution's step function, in order (JSON text)."""
    return f"eb:{workflow_tag(partition)}:r:{arn}"


def workflow_definition(partition: int, version: str) -> str:
    """One definition text, by its version (SHA-256 of the text), kept once per partition."""
    return f"eb:{workflow_tag(partition)}:def:{version}"


def workflow_work(partition: int) -> str:
    """Stream of a partition's work (starts, tasks, fired timers, stops), group
    ``workflow-workers``; an entry stays pending until the step it leads to is stored."""
    return f"eb:{workflow_tag(partition)}:work"


def workflow_timers(partition: int) -> str:
    """Sorted set of a partition's pending timers: member = JSON ``{arn, token}``, score =
    due time (ms)."""
    return f"eb:{workflow_tag(partition)}:timers"


def workflow_outbox(partition: int) -> str:
    """Stream of status-change events waiting to be published on the ``default`` bus."""
    return f"eb:{workflow_tag(partition)}:outbox"


def workflow_index(partition: int) -> str:
    """Sorted set of a partition's execution ARNs, scored by start time (ms)."""
    return f"eb:{workflow_tag(partition)}:executions"


__all__ += [
    "WORKFLOW_GROUP",
    "WORKFLOW_PARTITIONS",
    "workflow_definition",
    "workflow_execution",
    "workflow_history",
    "workflow_index",
    "workflow_outbox",
    "workflow_replies",
    "workflow_tag",
    "workflow_timers",
    "workflow_work",
]


def workflow_waits(partition: int, arn: str) -> str:
    """Hash of one execution's callback tasks (``.waitForTaskToken``, activities): field =
    task token, value = ``waiting`` or how it ended; ``<token>:hb`` its HeartbeatSeconds,
    ``<token>:due`` its heartbeat deadline (ms), ``<token>:sent`` set once it was invoked."""
    return f"eb:{workflow_tag(partition)}:w:{arn}"


def activity_queue(name: str) -> str:
    """List of the tasks (JSON ``{token, input}``) waiting for a worker of activity NAME; its
    own hash tag ``{act:NAME}``: only GetActivityTask and the enqueue touch it."""
    return f"eb:{{act:{name}}}:tasks"


# Sorted set of the workflow workers alive: member = consumer name, score = when its claimer
# last ran (ms, Redis's clock); members silent past the consumer idle limit are dropped.
WORKFLOW_WORKERS = "eb:workflow-workers"


def workflow_closed(partition: int) -> str:
    """Sorted set of a partition's closed execution ARNs, scored by close time (ms): what
    retention removes, oldest first, without scanning the executions still running."""
    return f"eb:{workflow_tag(partition)}:closed"


__all__ += ["WORKFLOW_WORKERS", "activity_queue", "workflow_closed", "workflow_waits"]
