"""Map states, inline and distributed (pure).

Iterations run one after another: the outcome does not depend on concurrency, and the
history's order inside a Map block is not significant. A DISTRIBUTED Map's iterations are
child executions: their events are kept out of the parent's history, which records a Map Run
instead, and only it honours ToleratedFailureCount/Percentage.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from eventbus.errors import StatesError
from eventbus.workflows import jsonata, jsontext, paths
from eventbus.workflows.commands import Block, Command, InvokeTask
from eventbus.workflows.concurrency import Finished, run_all
from eventbus.workflows.context import state_context
from eventbus.workflows.errors_handling import with_retry_and_catch
from eventbus.workflows.history import History
from eventbus.workflows.rerun import Rerun
from eventbus.workflows.runtime import Branch, Outcome, StateFailure, StateRun, Steps, request

__all__ = ["MAP_RUN", "THRESHOLD_EXCEEDED", "items_of", "run_map", "tolerance", "tolerated"]

# The task a durable execution's DISTRIBUTED Map issues: its Map Run (see ``map_run``).
MAP_RUN = "arn:eventbus:states:::mapRun"
THRESHOLD_EXCEEDED = ("States.ExceedToleratedFailureThreshold",
                      "The specified tolerated failure threshold was exceeded")


def items_of(run: StateRun, data: Any) -> list[Any]:
    if run.jsonata:
        if "Items" in run.state:
            expr = run.state["Items"]
            items = run.resolve(expr, "Items")
            jsonata.require_type(expr, items, "array", field="Items")
            return list(items)
        items = data
    else:
        try:
            items = run.note("afterItemsPath", paths.apply_items_path(
                run.state.get("ItemsPath"), data, context=run.context, variables=run.variables))
        except StatesError as err:
            if not (err.cause or "").startswith("Reference path"):
                raise
            # AWS reports an ItemsPath that is not an array without naming the state.
            raise StateFailure(err.error, err.cause) from err
    if not isinstance(items, list):
        error = "States.QueryEvaluationError" if run.jsonata else "States.Runtime"
        raise StatesError(
            error, f"Map state input must be an array but was: {jsontext.dumps(items)}")
    return items


def _quoted(value: Any) -> str:
    return '"' + (value if isinstance(value, str) else jsontext.dumps(value)) + '"'


def number_field(run: StateRun, data: Any, name: str, kind: type) -> Any:
    """MaxConcurrency / ToleratedFailureCount / ToleratedFailurePercentage, or their Path."""
    if name in run.state:
        value = run.state[name]
        return run.resolve(value, name) if run.jsonata else value
    path = run.state.get(name + "Path")
    if path is None:
        return None
    value = run.read(path, data)
    try:
        if isinstance(value, (bool, dict, list)) or value is None:
            raise ValueError(value)
        return kind(value)
    except ValueError as err:
        noun = "integer" if kind is int else "float"
        raise StatesError("States.Runtime", f"The {name}Path field refers to value "
                          f"{_quoted(value)} which is not a valid {noun}: {path}") from err


def _item_input(run: StateRun, data: Any, index: int, item: Any) -> Any:
    selector = run.state.get("ItemSelector", run.state.get("Parameters"))
    if selector is None:
        return item
    context = state_context(run.env.info, run.name, run.entered_time, map_item=(index, item),
                            execution=run.env.execution_context)
    if run.jsonata:
        bindings = run.bindings()
        bindings["states"]["context"] = context
        return jsonata.resolve(selector, bindings, "ItemSelector",
                               generators=run.env.generators)
    return run.payload(selector, data, context=context)


def _batches(run: StateRun, data: Any, inputs: list[Any]) -> list[Any]:
    """ItemBatcher: iterations get ``{"Items": [...], "BatchInput": ...}`` instead of one item."""
    batcher = run.state.get("ItemBatcher")
    if batcher is None:
        return inputs
    size = _batcher_number(run, batcher, data, "MaxItemsPerBatch") or len(inputs) or 1
    batch_input = batcher.get("BatchInput")
    if batch_input is not None:
        batch_input = run.resolve(batch_input, "ItemBatcher/BatchInput") if run.jsonata \
            else run.payload(batch_input, data)
    out = []
    for start in range(0, len(inputs), size):
        batch: dict[str, Any] = {"Items": inputs[start:start + size]}
        if batch_input is not None:
            batch["BatchInput"] = batch_input
        out.append(batch)
    return out


def _batcher_number(run: StateRun, batcher: Any, data: Any, name: str) -> int | None:
    if name in batcher:
        value = batcher[name]
        return int(run.resolve(value, f"ItemBatcher/{name}") if run.jsonata else value)
    if name + "Path" in batcher:
        return int(run.read(batcher[name + "Path"], data))
    return None


def _read_items(run: StateRun, data: Any) -> Generator[Command | Block, Any, list[Any]]:
    """The items from ItemsPath/Items, or with an ItemReader from its resource, which the
    driver calls as it calls a task."""
    reader = run.state.get("ItemReader")
    if reader is None:
        return items_of(run, data)
    if run.jsonata:
        arguments = run.resolve(reader.get("Arguments", {}), "ItemReader/Arguments")
    else:
        arguments = run.payload(reader.get("Parameters", {}), data)
    reply = yield from request(InvokeTask(run.env.uuid(), reader["Resource"], arguments))
    if reply.failed or reply.timed_out:
        raise StateFailure("States.ItemReaderFailed",
                           reply.cause or f"The item reader {reader['Resource']} failed.")
    if not isinstance(reply.output, list):
        raise StateFailure("States.ItemReaderFailed",
                           "The item reader did not return a JSON array of items.")
    return reply.output


def tolerance(run: StateRun, data: Any) -> tuple[int | None, float | None]:
    count = number_field(run, data, "ToleratedFailureCount", int)
    percentage = number_field(run, data, "ToleratedFailurePercentage", float)
    if count is not None:
        run.note("toleratedFailureCount", count)
    if percentage is not None:
        run.note("toleratedFailurePercentage", percentage)
    if percentage is not None and not 0 <= float(percentage) <= 100:
        raise StatesError("States.Runtime", "ToleratedFailurePercentage must be between 0 and 100.")
    return count, percentage


def _attempt(run: StateRun) -> Steps:
    from eventbus.workflows.interpreter import child_frame

    data = run.raw_input if run.jsonata else run.input_path()
    items = yield from _read_items(run, data)
    limit = run.note("maxConcurrency", number_field(run, data, "MaxConcurrency", int) or 0)
    processor = run.state.get("ItemProcessor") or run.state["Iterator"]
    distributed = processor.get("ProcessorConfig", {}).get("Mode") == "DISTRIBUTED"
    history = run.frame.history
    history.add("MapStateStarted", {"length": len(items)})
    tolerated_count, tolerated_pct = _map_run_started(run, data) if distributed \
        else (None, None)
    inputs = _batches(run, data, [_item_input(run, data, i, item) for i, item in enumerate(items)])
    if distributed and run.env.info.child_map_runs and inputs:
        outputs = yield from _map_run(run, processor, inputs, limit, tolerated_count,
                                      tolerated_pct)
        return _succeeded(run, outputs)
    results: list[Any] = [None] * len(inputs)
    failures: list[StateFailure] = []
    rerun = Rerun(run)

    def start(index: int) -> Branch:
        if not distributed and not rerun.done_before(index):
            history.add("MapIterationStarted", {"index": index, "name": run.name})
        return rerun.branch(index, lambda: child_frame(
            run.frame, processor["States"], processor["StartAt"],
            history=History(history.clock) if distributed else None), inputs[index])

    def on_end(end: Finished) -> bool:
        if end.failure is None:
            results[end.index] = end.output
            reused = rerun.done_before(end.index)
            rerun.succeeded(end.index, end.output)
            if not distributed and not reused:
                history.bookkeeping("MapIterationSucceeded", {"index": end.index, "name": run.name})
            return True
        failures.append(end.failure)
        if not distributed:
            history.bookkeeping("MapIterationFailed", {"index": end.index, "name": run.name})
            return False
        return tolerated(len(failures), len(inputs), tolerated_count, tolerated_pct)

    abandoned = yield from run_all(len(inputs), start, limit or len(inputs) or 1, on_end)
    for index in abandoned if not distributed else ():
        history.add("MapIterationAborted", {"index": index, "name": run.name})
    if failures and not distributed:
        raise failures[-1]
    if failures and not tolerated(len(failures), len(inputs), tolerated_count, tolerated_pct):
        history.add("MapRunFailed")
        raise StateFailure(*THRESHOLD_EXCEEDED) from failures[-1]
    if distributed:
        history.add("MapRunSucceeded")
    return _succeeded(run, results)


def _map_run_started(run: StateRun, data: Any) -> tuple[int | None, float | None]:
    """A DISTRIBUTED Map's tolerance, and its MapRunStarted event."""
    tolerated_count, tolerated_pct = tolerance(run, data)
    run_id = run.env.uuid()
    info = run.env.info
    run.frame.history.add("MapRunStarted", {"mapRunArn": f"arn:aws:states:{info.region}:"
                          f"{info.account}:mapRun:{info.state_machine_name}/{run.name}:{run_id}"})
    return tolerated_count, tolerated_pct


def _succeeded(run: StateRun, results: list[Any]) -> Outcome:
    history = run.frame.history
    # What follows the Map (its exit) follows the last event before MapStateSucceeded.
    history.head = history.last_id
    history.bookkeeping("MapStateSucceeded")
    output, assigned = run.finish(results)
    return run.outcome(output, assigned)


def _map_run(run: StateRun, processor: dict[str, Any], inputs: list[Any], limit: int,
             count: int | None, pct: float | None) -> Generator[Command | Block, Any, list[Any]]:
    """A durable execution's Map Run: one task that runs the iterations as child executions
    (see ``map_run``) and answers their outputs in item order."""
    definition = {k: v for k, v in processor.items() if k != "ProcessorConfig"}
    definition.setdefault("QueryLanguage", run.env.top_language)
    reply = yield from request(InvokeTask(run.env.uuid(), MAP_RUN, {
        "Machine": f"{run.env.info.state_machine_name}/{run.name}",
        "Definition": jsontext.dumps(definition), "Items": inputs, "MaxConcurrency": limit,
        "ToleratedFailureCount": count, "ToleratedFailurePercentage": pct,
    }))
    if reply.failed or reply.timed_out:
        run.frame.history.add("MapRunFailed")
        raise StateFailure(reply.error, reply.cause)
    run.frame.history.add("MapRunSucceeded")
    return list(reply.output)


def tolerated(failures: int, total: int, count: int | None, pct: float | None) -> bool:
    if count is not None and failures <= count:
        return True
    return pct is not None and total > 0 and failures * 100 / total <= pct


def run_map(run: StateRun) -> Steps:
    return (yield from with_retry_and_catch(run, lambda _: _attempt(run), "MapStateFailed"))
