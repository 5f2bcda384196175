"""The router process: read the buses, route, hand deliveries to their lanes, deliver.

:class:`Router` is the supervisor of the loops (:mod:`eventbus.loops`), all in one asyncio loop
on one Redis:

- **bus reader** (:class:`~eventbus.loops.routing.BusReader`): reads the buses, routes each batch,
  records its deliveries and acknowledges it in one script;
- **queue reader** (:class:`~eventbus.loops.delivering.QueueReader`): reads the queues of the
  lanes with room and hands each entry to its lane (:mod:`eventbus.lanes`);
- **retry mover** (:class:`~eventbus.loops.delivering.RetryMover`): moves due retries back;
- **claimer** (:class:`~eventbus.loops.claiming.Claimer`): takes over what a dead router held;
- **scheduler** (:class:`~eventbus.loops.scheduling.SchedulerLoop`): fires schedule rules;
- **reloader**, **trimmer**, **heartbeat**, **metrics flusher**, **consumer sweeper**
  (:mod:`eventbus.loops.upkeep`).

Each loop survives any exception: one bad item is logged with the item and skipped or
dead-lettered, a failed round is logged and the next one starts after ``pause_on_error``. The
router loads the rules, hands each reloaded rule set to the loops that route or deliver (and to
the gateway served alongside with ``http``), and on ``stop()`` stops the loops, lets held
deliveries finish (for ``shutdown_grace`` seconds; what is left stays pending and is claimed by
another router), acknowledges, flushes the metrics, and removes its own consumers that hold
nothing (:mod:`eventbus.consumers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from eventbus import bus as bus_ops
from eventbus import keys
from eventbus.archives.compactor import ArchiveCompactor
from eventbus.autopipe import AutoPipelineRedis
from eventbus.client import AsyncEventBusClient
from eventbus.config import BusRules, RuleSet
from eventbus.consumers import CONSUMER_IDLE_SECONDS, remove_consumers
from eventbus.delivery import ack, iso_ms
from eventbus.lanes import AckBuffer, Deliverer, Lane, Outcome
from eventbus.loops import TRANSIENT, Loop
from eventbus.loops.claiming import Claimer
from eventbus.loops.delivering import SWEEP_SECONDS, QueueReader, RetryMover
from eventbus.loops.routing import (
    EVENT_TOO_LARGE,
    MALFORMED_EVENT,
    BusReader,
    Routing,
    RoutingLoop,
    RoutingTable,
)
from eventbus.loops.scheduling import SchedulerLoop
from eventbus.loops.upkeep import (
    ConsumerSweeper,
    Heartbeat,
    MetricsFlusher,
    Reloader,
    Trimmer,
    memberships,
)
from eventbus.metrics import Metrics, NullMetrics
from eventbus.outage import OutageLog
from eventbus.router_process import router_redis, start_for_good
from eventbus.rule_watch import RELOAD_POLL_SECONDS, RuleWatch
from eventbus.scheduler import Clock
from eventbus.settings import Settings, get_settings
from eventbus.targets import load_target_class
from eventbus.targets.base import TargetServices
from eventbus.targets.http_client import Sessions
from eventbus.workflows.catalog import WorkflowCatalog

if TYPE_CHECKING:
    from eventbus.gateway.state import Gateway
    from eventbus.workflows.worker import WorkflowWorker

__all__ = [
    "DEFAULT_CLAIM_IDLE_SECONDS",
    "EVENT_TOO_LARGE",
    "MALFORMED_EVENT",
    "HttpOptions",
    "Router",
    "RouterOptions",
    "configure_logging",
    "run_router",
]

log = logging.getLogger("eventbus.worker")

DEFAULT_CLAIM_IDLE_SECONDS = 30.0
# XGROUP CREATE commands per pipeline at start-up and reload: large enough that 10,000 queues
# take a handful of round trips, small enough that one reply stays a few hundred KB.
PREPARE_BATCH = 1000


@dataclass(frozen=True, slots=True)
class RouterOptions:
    """How a router runs; every default has a name here."""

    claim_idle: float = DEFAULT_CLAIM_IDLE_SECONDS  # reclaim entries idle this long (s)
    consumer: str = ""  # consumer name in both groups; default <host>-<pid>
    bus_batch: int = 1000  # bus entries per XREADGROUP (per partition)
    queue_batch: int = 200  # queue entries per XREADGROUP (per lane)
    concurrency: int = 64  # deliveries in flight per lane
    block_ms: int = 100  # how long a read waits for new entries
    retry_poll: float = 0.1  # how often due retries are moved back (s)
    sweep_interval: float = SWEEP_SECONDS  # read every queue, check every retry set (s)
    reload_poll: float = RELOAD_POLL_SECONDS  # how often rule files are checked for changes (s)
    trim_interval: float = 10.0  # how often retention runs (s)
    shutdown_grace: float = 10.0  # how long SIGTERM waits for held deliveries (s)
    pause_on_error: float = 0.5  # wait after a failed round of a loop before the next (s)
    max_connections: int = 128  # Redis connections; past it, commands wait for a free one
    consumer_idle: float = CONSUMER_IDLE_SECONDS  # remove consumers idle this long, holding nothing
    workflows: bool = False  # also run a workflow worker (``eventbus run`` unless --no-workflows)
    # How long its closed executions are kept (s); None: EVENTBUS_WORKFLOW_RETENTION_DAYS.
    workflow_retention: float | None = None


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """The gateway a router also serves (``eventbus run --http PORT``)."""

    port: int
    host: str = "127.0.0.1"
    no_auth: bool = False
    credentials_file: str | None = None
    # None: the setting (EVENTBUS_MAX_UNVERIFIED_BYTES, EVENTBUS_BODY_TIMEOUT, ...).
    max_unverified_bytes: int | None = None
    body_timeout: float | None = None
    max_connections: int | None = None


class Router:
    """One router process's loops under one supervisor; ``await run()`` until ``stop()``."""

    def __init__(
        self,
        redis: Redis,
        rules_path: str | Path,
        options: RouterOptions | None = None,
        *,
        settings: Settings | None = None,
        clock: Clock | None = None,
        rule_watch: RuleWatch | None = None,
    ) -> None:
        self.redis = redis
        self.rules_path = Path(rules_path)
        self.options = o = options or RouterOptions()
        self.settings = settings or get_settings()
        self.consumer = o.consumer or f"{socket.gethostname()}-{os.getpid()}"
        # Targets share one auto-pipelining client: their many small commands in one round trip.
        self.target_redis = AutoPipelineRedis(connection_pool=redis.connection_pool)
        self.publisher = AsyncEventBusClient(redis, settings=self.settings)
        # HTTP targets share one session (one pool of kept-alive connections), each bounded to
        # its lane's concurrency.
        self.http = Sessions()
        self.acks = AckBuffer()
        # Counting off only measures what counting costs (bench/bench_bus.py --metrics-cost).
        off = os.environ.get("EVENTBUS_BENCH_NO_METRICS") == "1"
        self.metrics = (NullMetrics if off else Metrics)(redis)
        self.outage = OutageLog(log)  # every loop's Redis errors, said once and then summarised
        self.deliverer = Deliverer(
            redis,
            self.acks,
            on_outcome=self._publish_outcome,
            target_redis=self.target_redis,
            metrics=self.metrics,
        )
        self.routing = Routing(RoutingTable(RuleSet()))
        self.gateway: Gateway | None = None  # the gateway served alongside, told of reloads
        self.gateway_port: int | None = None  # the port it listens on
        self.retiring: dict[Lane, asyncio.Task[None]] = {}
        self._stopping = asyncio.Event()  # every loop but the metrics flusher
        self._closing = asyncio.Event()  # the metrics flusher, once held deliveries are done
        self.rule_watch = rule_watch or RuleWatch(self.rules_path, self.settings)
        self._build_loops(clock)

    def _build_loops(self, clock: Clock | None) -> None:
        """Every loop of ``eventbus run``, in the order they are started."""
        o = self.options
        redis, consumer, settings = self.redis, self.consumer, self.settings
        stop, pause = self._stopping, o.pause_on_error
        self.bus_reader = BusReader(stop, redis, consumer, self.metrics, settings,
                                    batch=o.bus_batch, block_ms=o.block_ms, pause=pause,
                                    on_missing_group=self._prepare_running)  # fmt: skip
        self.queue_reader = QueueReader(stop, redis, consumer, self.acks, self.deliverer,
                                        batch=o.queue_batch, block_ms=o.block_ms, pause=pause,
                                        on_missing_group=self._prepare_running,
                                        sweep_every=o.sweep_interval)  # fmt: skip
        self.claimer = Claimer(stop, redis, consumer, self.bus_reader, self.queue_reader,
                               self.retiring, claim_idle=o.claim_idle, batch=o.bus_batch,
                               pause=pause)  # fmt: skip
        self.reloader = Reloader(stop, self.rule_watch, self.reload, every=o.reload_poll,
                                 pause=pause)  # fmt: skip
        self.loops: list[Loop] = [
            self.bus_reader,
            self.queue_reader,
            SchedulerLoop(
                stop, redis, consumer, settings, clock=clock, claim_idle=o.claim_idle, pause=pause
            ),
            RetryMover(stop, redis, every=o.retry_poll, pause=pause, sweep_every=o.sweep_interval),
            self.claimer,
            self.reloader,
            Trimmer(stop, redis, every=o.trim_interval, pause=pause),
            ConsumerSweeper(stop, redis, idle=o.consumer_idle, pause=pause),
            Heartbeat(stop, redis, consumer, pause=pause),
            ArchiveCompactor(stop, redis, pause=pause),
        ]
        self.metrics_flusher = MetricsFlusher(self._closing, self.metrics, pause=pause)
        self.workflow_worker = self._workflow_worker() if o.workflows else None
        for loop in (*self.loops, self.metrics_flusher):
            loop.outage = self.outage

    def _workflow_worker(self) -> WorkflowWorker:
        """The workflow worker run alongside, stopped with the loops."""
        from eventbus.workflows.worker import WorkerOptions, WorkflowWorker

        o = self.options
        options = WorkerOptions(claim_idle=o.claim_idle, consumer=f"wf-{self.consumer}",
                                shutdown_grace=o.shutdown_grace, pause_on_error=o.pause_on_error,
                                retention=o.workflow_retention)
        from eventbus.targets.workflow import CatalogTexts

        # startExecution tasks start the machines of the workflow files in force.
        definitions = CatalogTexts(lambda: self.rule_watch.workflows)
        return WorkflowWorker(self.redis, options, definitions=definitions,
                              stop=self._stopping, outage=self.outage)

    @property
    def table(self) -> RoutingTable:
        """The running rule set, ready to route."""
        return self.routing.table

    @property
    def lanes(self) -> dict[tuple[str, str, str], Lane]:
        """The running rule set's lanes, by (bus, rule, target id)."""
        return self.routing.lanes

    @property
    def workflows(self) -> WorkflowCatalog:
        """The state machines of the workflow files in force, loaded and reloaded with the
        rules (empty when the router has no workflow directory)."""
        return self.rule_watch.workflows

    # --- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop reading; ``run`` returns once held work is finished or handed back."""
        self._stopping.set()

    def request_reload(self) -> None:
        """Reload the rules at the next poll (SIGHUP)."""
        self.rule_watch.request()

    async def start(self, ruleset: RuleSet | None = None) -> None:
        """Load the rules (``RuleFileError`` when they are invalid), unless ``ruleset`` is the
        one ``rule_watch`` just loaded, and prepare Redis."""
        if ruleset is None:
            ruleset = self.rule_watch.load()
        while True:
            try:
                await self._apply(ruleset)
                return
            except TRANSIENT as e:  # Redis not up yet, or restarting: wait for it
                if self._stopping.is_set():
                    raise
                self.outage.failed("starting", e)
                await asyncio.sleep(self.options.pause_on_error)

    async def run(self) -> None:
        if not self.lanes and not self.table.buses:
            await self.start()
        tasks = [asyncio.create_task(loop.run()) for loop in self.loops]
        if self.workflow_worker is not None:
            tasks.append(asyncio.create_task(self.workflow_worker.run()))
        flusher = asyncio.create_task(self.metrics_flusher.run())
        log.info("router started", extra={"fields": {"consumer": self.consumer}})
        await self._stopping.wait()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._finish()
        self._closing.set()
        await flusher
        with contextlib.suppress(*TRANSIENT, RedisError):
            await self.metrics.flush()
        await self._leave()
        log.info("router stopped", extra={"fields": {"consumer": self.consumer}})

    async def _finish(self) -> None:
        lanes = [*self.lanes.values(), *self.retiring]
        await asyncio.gather(*(lane.drain(self.options.shutdown_grace) for lane in lanes))
        with contextlib.suppress(*TRANSIENT, RedisError):
            acks = self.acks.take()
            if acks:
                await ack(self.redis, acks)
        await asyncio.gather(*(lane.close() for lane in lanes))
        await self.http.aclose()

    async def _leave(self) -> None:
        """Remove this router's consumers that hold nothing; one holding entries stays, for
        another router to claim them."""
        try:
            await remove_consumers(self.redis, memberships(self.routing), consumer=self.consumer)
        except Exception as e:  # the idle sweep of another router removes them later
            log.warning("removing this router's consumers failed: %s", e)

    async def claim_idle_entries(self) -> None:
        """Take over bus and queue entries another consumer has held for ``claim_idle``."""
        await self.claimer.claim_idle_entries()

    async def route_entries(self, table: RoutingTable, reply: Iterable[Any]) -> None:
        """Route a read batch and record its deliveries, acknowledging it in the same step."""
        await self.bus_reader.route_entries(table, reply)

    # --- rules ------------------------------------------------------------------------------

    async def _apply(self, ruleset: RuleSet) -> None:
        """Make ``ruleset`` the running one: buses registered, groups created, lanes reconciled,
        and the loops that route or deliver handed the result."""
        table = RoutingTable.build(ruleset)
        created = await self._prepare_redis(table)
        lanes: dict[tuple[str, str, str], Lane] = {}
        for bus_name, rule, target in ruleset.deliveries():
            bus_rules = ruleset.buses[bus_name]
            old = self.lanes.get((bus_name, rule.name, target.id))
            if old is not None and old.target.spec == target.spec:
                old.refresh(bus_rules, rule, target)
                lanes[old.key] = old
                continue
            lane = self._make_lane(bus_rules, rule, target)
            if lane is not None:
                lanes[lane.key] = lane
        retired = [lane for key, lane in self.lanes.items() if lanes.get(key) is not lane]
        self.routing = Routing.of(table, lanes)
        for loop in self.loops:
            if isinstance(loop, RoutingLoop):
                loop.use(self.routing)
        self.claimer.created(created)
        if self.gateway is not None:
            self.gateway.rules = ruleset
            self.gateway.catalog = self.workflows
        if self.workflow_worker is not None:
            self.workflow_worker.resolver.integrations.set_connections(ruleset.connections)
        for lane in retired:
            self.retiring[lane] = asyncio.create_task(self._retire(lane))

    async def _prepare_running(self) -> None:
        """Create what the running rules need again (a stream or group deleted under us)."""
        await self._prepare_redis(self.table)

    async def _prepare_redis(self, table: RoutingTable) -> set[bytes]:
        """Register the buses and create the groups of every bus partition and delivery queue,
        in pipelines of ``PREPARE_BATCH`` commands rather than one round trip per queue (10,000
        of them with 10,000 rules). A group that exists already (BUSYGROUP) is fine. Returns
        the delivery queues whose group was created here: no router can have held their
        entries before."""
        for name, routing in table.buses.items():
            cfg = routing.rules.config
            config = {"partitions": cfg.partitions, "max_len": cfg.max_len,
                      "max_age_seconds": cfg.max_age_seconds}  # fmt: skip
            await bus_ops.run_async(self.redis, bus_ops.register_bus(name, config))
        streams = [s.decode() for s in table.streams]
        queues = [keys.delivery_queue(bus_name, rule.name, target.id)
                  for bus_name, rule, target in table.ruleset.deliveries()]  # fmt: skip
        created: set[bytes] = set()
        for group, names in ((keys.ROUTER_GROUP, streams), (keys.DELIVERY_GROUP, queues)):
            for start in range(0, len(names), PREPARE_BATCH):
                batch = names[start : start + PREPARE_BATCH]
                # On the targets' client: its round trip reads each reply without the
                # bookkeeping redis-py's pipeline adds per command.
                steps = bus_ops.ensure_groups(batch, group)
                made = await bus_ops.run_async(self.target_redis, steps)
                if group == keys.DELIVERY_GROUP:
                    created.update(q.encode() for q in made)
        return created

    def _make_lane(self, bus_rules: BusRules, rule: Any, target: Any) -> Lane | None:
        services = TargetServices(
            redis=self.target_redis,
            publish=self.publisher.put_events,
            target_id=target.id,
            rule=rule.name,
            bus=bus_rules.name,
            http=self.http,
            connections=self.options.concurrency,
            workflows=lambda: self.rule_watch.workflows,
        )
        try:
            instance = load_target_class(target.type)(target.config, services)
        except Exception:
            log.exception("target %s of rule %s cannot be built; its deliveries wait in its queue",
                          target.id, rule.name)  # fmt: skip
            return None
        lane = Lane(bus_rules, rule, target, instance, self.options.concurrency)
        lane.on_free = self.queue_reader.freed
        return lane

    async def _retire(self, lane: Lane) -> None:
        """A lane the new rules dropped or changed: its held deliveries finish, then it closes."""
        try:
            await lane.drain()
            await lane.close()
        finally:
            self.retiring.pop(lane, None)

    async def reload(self) -> bool:
        """Load the rule files again; keep the running rules when the new ones are invalid."""
        ruleset = await self.rule_watch.reload()
        if ruleset is None:
            return False
        await self._apply(ruleset)
        fields = {"lanes": len(self.lanes), "workflows": len(self.workflows)}
        log.warning("rules reloaded", extra={"fields": fields})
        return True

    async def _publish_outcome(self, outcome: Outcome) -> None:
        lane, record = outcome.lane, outcome.record
        detail: dict[str, Any] = {
            "bus": lane.bus_rules.name,
            "rule": lane.rule.name,
            "target": lane.target.id,
            "delivery-id": record.delivery_id,
            "event-id": record.event_id,
            "attempts": outcome.attempts,
        }
        if outcome.succeeded:
            detail["result"] = outcome.result if outcome.result is not None else {}
        else:
            detail["error-code"] = outcome.error_code
            detail["error-message"] = outcome.error_message
        entry = {
            "Source": "eventbus",
            "DetailType": "Delivery Succeeded" if outcome.succeeded else "Delivery Failed",
            "Detail": orjson.dumps(detail).decode(),
            "Resources": [lane.rule.arn],
            "EventBusName": lane.bus_rules.name,
        }
        await self.publisher.put_events([entry], hops=record.hops + 1)


# --- logging and the process entry point ------------------------------------------------------


class JsonLines(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's ``fields``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": iso_ms(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def configure_logging(verbose: bool = False) -> None:
    """JSON lines on standard error; warnings and errors only unless ``verbose``."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger("eventbus")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO if verbose else logging.WARNING)
    root.propagate = False


async def run_router(
    redis_url: str,
    rules_path: str | Path,
    options: RouterOptions | None = None,
    *,
    settings: Settings | None = None,
    ready: Callable[[Router], None] | None = None,
    http: HttpOptions | None = None,
    loaded: tuple[RuleWatch, RuleSet] | None = None,
) -> None:
    """Run a router until SIGTERM or SIGINT (SIGHUP reloads the rules), and with ``http`` the
    gateway too (``OSError`` when its port cannot be bound). ``loaded``: the rules already read
    by that watch (``eventbus run`` reads them before starting Redis), not read again."""
    options = options or RouterOptions()
    redis = router_redis(redis_url, options)
    watch, ruleset = loaded if loaded is not None else (None, None)
    router = Router(redis, rules_path, options, settings=settings, rule_watch=watch)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, router.stop)
    loop.add_signal_handler(signal.SIGINT, router.stop)
    loop.add_signal_handler(signal.SIGHUP, router.request_reload)
    try:
        await start_for_good(router, ruleset)
        gateway = await _start_gateway(router, redis_url, http) if http else None
        if ready is not None:
            ready(router)
        try:
            await router.run()
        finally:
            if gateway is not None:
                gateway.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await gateway
    finally:
        await redis.aclose()


async def _start_gateway(router: Router, redis_url: str, http: HttpOptions) -> asyncio.Task[None]:
    """Serve the gateway in this loop; returns once it listens (raises when it cannot)."""
    from eventbus.gateway.server import serve_in_router

    listening = asyncio.Event()

    def attach(gateway: Gateway, port: int) -> None:
        router.gateway, router.gateway_port = gateway, port
        gateway.catalog = router.workflows
        listening.set()

    task = asyncio.create_task(serve_in_router(
        router.table.ruleset, redis_url, port=http.port, host=http.host, no_auth=http.no_auth,
        credentials_file=http.credentials_file, max_unverified_bytes=http.max_unverified_bytes,
        body_timeout=http.body_timeout, max_connections=http.max_connections, ready=attach,
    ))  # fmt: skip
    waiter = asyncio.create_task(listening.wait())
    await asyncio.wait([task, waiter], return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    if task.done():
        task.result()  # the gateway could not start: its error
    where = {"host": http.host, "port": router.gateway_port}
    log.info("gateway listening", extra={"fields": where})
    return task
