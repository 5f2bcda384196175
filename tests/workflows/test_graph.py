"""``render_graph``: a state machine drawn as text, and statuses read from a history."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from eventbus.workflows.graph import GraphEdge, machine_graph, render_graph
from eventbus.workflows.graph_status import StateMark, Status, statuses_from_history

PIPELINE: dict[str, Any] = {
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "Next": "Route",
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify"}],
        },
        "Route": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.kind", "StringEquals": "batch", "Next": "FanOut"}],
            "Default": "Both",
        },
        "FanOut": {
            "Type": "Map", "Next": "Done",
            "ItemProcessor": {"StartAt": "Work", "States": {
                "Work": {"Type": "Pass", "Next": "Check"}, "Check": {"Type": "Succeed"}}},
        },
        "Both": {
            "Type": "Parallel", "Next": "Done",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {"StartAt": "Right", "States": {
                    "Right": {"Type": "Wait", "Seconds": 1, "Next": "Last"},
                    "Last": {"Type": "Pass", "End": True}}},
            ],
        },
        "Notify": {"Type": "Fail", "Error": "Failed"},
        "Done": {"Type": "Succeed"},
    },
}
ALL_STATES = ["Validate", "Route", "FanOut", "Work", "Check", "Both", "Left", "Right", "Last",
              "Notify", "Done"]


def chain(n: int) -> dict[str, Any]:
    states: dict[str, Any] = {f"S{i}": {"Type": "Pass", "Next": f"S{i + 1}"} for i in range(n)}
    states[f"S{n - 1}"] = {"Type": "Succeed"}
    return {"StartAt": "S0", "States": states}


def occurrences(text: str, name: str) -> int:
    return len(re.findall(rf"(?<![\w.]){re.escape(name)}(?![\w.])", text))


def position(lines: list[str], name: str) -> tuple[int, int]:
    """(row, column) of the one place ``name`` is written."""
    found = [(r, m.start()) for r, line in enumerate(lines)
             for m in re.finditer(rf"(?<![\w↑] ){re.escape(name)}(?!\w)", line)]
    assert len(found) == 1, (name, found)
    return found[0]


def test_every_state_is_drawn_once_nested_ones_included() -> None:
    text = render_graph(PIPELINE).text
    for name in ALL_STATES:
        assert occurrences(text, name) == 1, name


def test_the_graph_has_every_transition_labelled_and_terminals() -> None:
    graph = machine_graph(PIPELINE)
    assert set(graph.edges) == {
        GraphEdge("\x00start", "Validate"),
        GraphEdge("Validate", "Route"),
        GraphEdge("Validate", "Notify", "Catch States.ALL"),
        GraphEdge("Route", "FanOut", '$.kind StringEquals "batch"'),
        GraphEdge("Route", "Both", "Default"),
        GraphEdge("FanOut", "Done"),
        GraphEdge("Both", "Done"),
        GraphEdge("Notify", "\x00end"),
        GraphEdge("Done", "\x00end"),
    }
    assert [len(graph.nested["Both"]), len(graph.nested["FanOut"])] == [2, 1]


def test_every_drawn_edge_ends_in_one_arrow_above_its_target() -> None:
    # Top level: 9 edges; the Map's processor: 3 (Start, Work->Check, Check->End);
    # the branches: 2 and 3.
    text = render_graph(PIPELINE).text
    assert text.count("▼") == 9 + 3 + 2 + 3


def test_labels_are_written_beside_their_edges() -> None:
    text = render_graph(PIPELINE).text
    for label in ("Catch States.ALL", "Default", '$.kind StringEquals "ba'):
        assert label in text


def test_a_parallel_draws_its_branches_inside_its_box_side_by_side() -> None:
    lines = render_graph(PIPELINE).lines
    top, left = position(lines, "Both")
    corner = lines[top - 1].rfind("╭", 0, left + 1)
    right = lines[top - 1].index("╮", corner)
    bottom = next(r for r in range(top, len(lines)) if lines[r][corner] == "╰")
    (l_row, l_col), (r_row, r_col) = position(lines, "Left"), position(lines, "Right")
    assert top < l_row < bottom and corner < l_col < right
    assert top < r_row < bottom and corner < r_col < right
    assert l_row == r_row and l_col < r_col


def test_a_map_draws_its_item_processor_inside_its_box() -> None:
    lines = render_graph(PIPELINE).lines
    top, left = position(lines, "FanOut")
    (w_row, w_col), (c_row, _) = position(lines, "Work"), position(lines, "Check")
    bottom = next(r for r in range(top, len(lines)) if lines[r][left - 2] == "╰")
    assert top < w_row < c_row < bottom and w_col > left - 2
    assert "Map · inline" in lines[top + 1]


def test_a_loop_back_is_listed_in_its_state_instead_of_drawn_upwards() -> None:
    machine = {"StartAt": "Try", "States": {
        "Try": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Default": "Done",
                  "Choices": [{"Variable": "$.retry", "BooleanEquals": True, "Next": "Try"}]},
        "Done": {"Type": "Succeed"}}}
    text = render_graph(machine).text
    assert "↑ Try ($.retry BooleanEquals true)" in text
    assert "▲" not in text and text.count("▼") == 4


def test_an_invalid_definition_is_still_drawn_as_written() -> None:
    machine = {"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "Nowhere"},
        "M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": 3}, "End": True}}}
    text = render_graph(machine).text
    assert "Nowhere" in text and "missing state" in text
    assert "Map · inline" in text


def test_the_drawing_is_the_same_in_every_process() -> None:
    program = (
        "import orjson, sys\n"
        "from eventbus.workflows.graph import render_graph\n"
        "print(render_graph(orjson.loads(sys.argv[1])).text)\n"
    )
    import orjson

    argument = orjson.dumps(PIPELINE).decode()
    outputs = {
        subprocess.run([sys.executable, "-c", program, argument], capture_output=True,
                       text=True, check=True, env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(outputs) == 1
    assert outputs == {render_graph(PIPELINE).text + "\n"}


def test_a_200_state_chain_lines_up_on_one_column() -> None:
    drawing = render_graph(chain(200))
    for i in range(200):
        position(drawing.lines, f"S{i}")
    arrows = [line.index("▼") for line in drawing.lines if "▼" in line]
    assert len(arrows) == 201 and len(set(arrows)) == 1
    assert drawing.width < 40


def test_a_drawing_wider_than_the_limit_becomes_an_outline() -> None:
    states: dict[str, Any] = {f"B{i}": {"Type": "Pass", "End": True} for i in range(30)}
    states["Pick"] = {"Type": "Choice", "Default": "B0", "Choices": [
        {"Variable": "$.n", "NumericEquals": i, "Next": f"B{i}"} for i in range(1, 30)]}
    wide = {"StartAt": "Pick", "States": states}
    assert render_graph(wide).width > 100
    outline = render_graph(wide, max_width=100)
    assert outline.width <= 100
    for name in states:
        assert occurrences(outline.text, name) == 1 + (name != "Pick")  # its line, its edge


def test_ascii_drawings_use_ascii_only() -> None:
    drawing = render_graph(PIPELINE, {"Validate": Status.SUCCEEDED}, ascii=True)
    assert drawing.text.isascii()
    assert "ok Validate" in drawing.text


def test_each_state_shows_its_status_and_colour() -> None:
    drawing = render_graph(PIPELINE, {"Validate": Status.SUCCEEDED, "Notify": "FAILED",
                                      "Route": StateMark(Status.RUNNING, entered=3)})
    text = drawing.text
    assert "✓ Validate" in text and "✗ Notify" in text and "▶ Route" in text
    assert "· Done" in text and "Choice · ×3" in text
    assert "not reached" in drawing.lines[-1]
    row, col = position(drawing.lines, "Notify")
    assert any(run.row == row and run.start <= col < run.end and "red" in run.style
               for run in drawing.styles)


# --- statuses from a history (GetExecutionHistory's shape) ----------------------------------


def history(*steps: tuple[str, str | None]) -> list[dict[str, Any]]:
    events = []
    for i, (event_type, name) in enumerate(steps, start=1):
        event: dict[str, Any] = {"id": i, "previousEventId": i - 1, "type": event_type,
                                 "timestamp": "2024-01-01T00:00:00Z"}
        if name is not None:
            key = "stateEnteredEventDetails" if event_type.endswith("Entered") \
                else "stateExitedEventDetails"
            event[key] = {"name": name}
        events.append(event)
    return events


def test_a_retried_task_that_succeeds_is_succeeded_with_its_retries() -> None:
    events = history(
        ("ExecutionStarted", None), ("TaskStateEntered", "Call"),
        ("TaskScheduled", None), ("TaskFailed", None),
        ("TaskScheduled", None), ("TaskTimedOut", None),
        ("TaskScheduled", None), ("TaskSucceeded", None), ("TaskStateExited", "Call"),
        ("SucceedStateEntered", "Done"), ("SucceedStateExited", "Done"),
        ("ExecutionSucceeded", None),
    )
    assert statuses_from_history(events) == {
        "Call": StateMark(Status.SUCCEEDED, 1, 2), "Done": StateMark(Status.SUCCEEDED)}


def test_a_caught_failure_is_caught_and_the_handler_runs() -> None:
    events = history(
        ("TaskStateEntered", "Call"), ("TaskScheduled", None), ("TaskFailed", None),
        ("TaskStateExited", "Call"), ("FailStateEntered", "Notify"), ("ExecutionFailed", None),
    )
    assert statuses_from_history(events) == {
        "Call": StateMark(Status.CAUGHT), "Notify": StateMark(Status.FAILED)}


def test_a_failed_branch_fails_its_parallel_and_cuts_its_sibling_short() -> None:
    events = history(
        ("ParallelStateEntered", "Both"), ("ParallelStateStarted", None),
        ("WaitStateEntered", "Slow"), ("TaskStateEntered", "Hard"), ("TaskScheduled", None),
        ("TaskFailed", None), ("ParallelStateFailed", None), ("ExecutionFailed", None),
    )
    assert statuses_from_history(events) == {
        "Both": StateMark(Status.FAILED), "Hard": StateMark(Status.FAILED),
        "Slow": StateMark(Status.ABORTED)}


def test_states_entered_and_not_exited_are_running_while_the_execution_runs() -> None:
    events = history(("PassStateEntered", "A"), ("PassStateExited", "A"),
                     ("WaitStateEntered", "Pause"))
    assert statuses_from_history(reversed(events)) == {
        "A": StateMark(Status.SUCCEEDED), "Pause": StateMark(Status.RUNNING)}


def test_interleaved_map_iterations_are_counted_and_the_worst_shown() -> None:
    events = history(
        ("MapStateEntered", "Fan"), ("MapStateStarted", None),
        ("MapIterationStarted", None), ("TaskStateEntered", "Call"), ("TaskScheduled", None),
        ("MapIterationStarted", None), ("TaskStateEntered", "Call"), ("TaskScheduled", None),
        ("TaskFailed", None), ("TaskStateExited", "Call"), ("PassStateEntered", "Soft"),
        ("PassStateExited", "Soft"), ("MapIterationSucceeded", None),
        ("TaskSucceeded", None), ("TaskStateExited", "Call"), ("MapIterationSucceeded", None),
        ("MapStateSucceeded", None), ("MapStateExited", "Fan"), ("ExecutionSucceeded", None),
    )
    assert statuses_from_history(events) == {
        "Fan": StateMark(Status.SUCCEEDED), "Call": StateMark(Status.CAUGHT, 2),
        "Soft": StateMark(Status.SUCCEEDED)}


@st.composite
def machines(draw: st.DrawFn) -> dict[str, Any]:
    """Machines of Pass, Choice and Succeed states with transitions anywhere, loops too."""
    n = draw(st.integers(1, 12))
    names = [f"N{i}" for i in range(n)]
    target = st.sampled_from(names)
    states: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(["Pass", "Choice", "Succeed"]))
        if kind == "Pass":
            states[name] = {"Type": "Pass", "Next": draw(target)}
        elif kind == "Choice":
            rules = draw(st.lists(target, min_size=1, max_size=3))
            states[name] = {"Type": "Choice", "Default": draw(target), "Choices": [
                {"Variable": "$.v", "NumericEquals": i, "Next": t} for i, t in enumerate(rules)]}
        else:
            states[name] = {"Type": "Succeed"}
    return {"StartAt": draw(target), "States": states}


@given(machines())
def test_any_machine_draws_each_state_once_in_an_unbroken_box(machine: dict[str, Any]) -> None:
    lines = render_graph(machine).lines
    text = "\n".join(lines)
    # Every edge is drawn (one arrow each) or, closing a loop, listed in its box.
    assert text.count("▼") + text.count("↑") == len(machine_graph(machine).edges)
    for name in machine["States"]:
        row, col = position(lines, name)
        bar = lines[row].rfind("│", 0, col)
        assert lines[row][bar + 1:col].strip() == "" and lines[row - 1][bar] == "┌"
        bottom = next(r for r in range(row, len(lines)) if lines[r][bar] != "│")
        assert lines[bottom][bar] == "└"
        assert lines[bottom].index("┘", bar) == lines[row - 1].index("┐", bar)


def test_statuses_of_a_local_run_follow_its_history() -> None:
    import orjson

    from eventbus.errors import StatesError
    from eventbus.workflows import run_local

    machine = {"StartAt": "Fan", "States": {
        "Fan": {"Type": "Map", "Next": "Both", "ItemProcessor": {"StartAt": "Call", "States": {
            "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True,
                     "Catch": [{"ErrorEquals": ["Odd"], "Next": "Soft"}]},
            "Soft": {"Type": "Pass", "End": True}}}},
        "Both": {"Type": "Parallel", "Next": "Never", "Branches": [
            {"StartAt": "Fine", "States": {"Fine": {"Type": "Pass", "End": True}}},
            {"StartAt": "Hard", "States": {"Hard": {
                "Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": True,
                "Retry": [{"ErrorEquals": ["Down"], "MaxAttempts": 2}]}}}]},
        "Never": {"Type": "Succeed"}}}

    def call(item: Any) -> Any:
        if item % 2:
            raise StatesError("Odd", "odd item")
        return item

    def down(_: Any) -> Any:
        raise StatesError("Down", "no answer")

    result = run_local(orjson.dumps(machine).decode(), "[1, 2, 3, 4]", tasks={
        "arn:aws:states:::lambda:invoke": call, "arn:aws:states:::http:invoke": down})
    assert result["status"] == "FAILED"
    assert statuses_from_history(result["events"]) == {
        "Fan": StateMark(Status.SUCCEEDED), "Call": StateMark(Status.CAUGHT, 4),
        "Soft": StateMark(Status.SUCCEEDED, 2), "Both": StateMark(Status.FAILED),
        "Fine": StateMark(Status.SUCCEEDED), "Hard": StateMark(Status.FAILED, 1, 2)}
