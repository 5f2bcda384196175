"""Map (inline and distributed) and Parallel states, and how variables are scoped in them."""

from __future__ import annotations

from .helpers import output, run, types

DISTRIBUTED = {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
ITEM_PASS = {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}


def test_inline_map_outputs_each_iterations_output_in_order() -> None:
    state = {"Type": "Map", "ItemsPath": "$.xs", "End": True, "ItemProcessor": {
        "StartAt": "I", "States": {"I": {"Type": "Pass", "Parameters": {"v.$": "$"},
                                         "End": True}}}}
    assert output(run({"M": state}, {"xs": [1, 2]})) == [{"v": 1}, {"v": 2}]


def test_inline_map_records_each_iteration_in_the_history() -> None:
    state = {"Type": "Map", "End": True, "ItemProcessor": ITEM_PASS}
    assert types(run({"M": state}, [1])) == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapIterationStarted",
        "PassStateEntered", "PassStateExited", "MapIterationSucceeded", "MapStateSucceeded",
        "MapStateExited", "ExecutionSucceeded",
    ]


def test_item_selector_sees_the_map_item_in_the_context_object() -> None:
    state = {"Type": "Map", "ItemsPath": "$.xs", "End": True, "ItemProcessor": ITEM_PASS,
             "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value",
                              "all.$": "$.tag"}}
    result = run({"M": state}, {"xs": ["a"], "tag": "t"})
    assert output(result) == [{"i": 0, "v": "a", "all": "t"}]


def test_map_over_something_not_an_array_fails() -> None:
    result = run({"M": {"Type": "Map", "End": True, "ItemProcessor": ITEM_PASS}}, {"a": 1})
    assert result["status"] == "FAILED"


def test_a_failing_iteration_fails_the_map_unless_caught() -> None:
    fail = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "Cause": "C"}}}
    state = {"Type": "Map", "End": True, "ItemProcessor": fail}
    result = run({"M": state}, [1])
    assert (result["error"], types(result)[-2]) == ("E", "MapStateFailed")
    caught = {**state, "Catch": [{"ErrorEquals": ["E"], "Next": "H"}]}
    result = run({"M": caught, "H": {"Type": "Pass", "End": True}}, [1])
    assert output(result) == {"Error": "E", "Cause": "C"}


def test_distributed_map_records_a_map_run_and_not_its_child_executions() -> None:
    processor = {**ITEM_PASS, "ProcessorConfig": DISTRIBUTED}
    result = run({"M": {"Type": "Map", "End": True, "ItemProcessor": processor}}, [1, 2])
    assert output(result) == [1, 2]
    assert types(result) == [
        "ExecutionStarted", "MapStateEntered", "MapStateStarted", "MapRunStarted",
        "MapRunSucceeded", "MapStateSucceeded", "MapStateExited", "ExecutionSucceeded",
    ]


def test_distributed_map_tolerates_failures_up_to_the_tolerated_count() -> None:
    processor = {"StartAt": "F", "ProcessorConfig": DISTRIBUTED,
                 "States": {"F": {"Type": "Fail", "Error": "E"}}}
    state = {"Type": "Map", "End": True, "ItemProcessor": processor, "ToleratedFailureCount": 1}
    assert run({"M": state}, [1])["status"] == "SUCCEEDED"
    result = run({"M": state}, [1, 2])
    assert result["error"] == "States.ExceedToleratedFailureThreshold"


def test_parallel_gives_every_branch_the_input_and_outputs_their_outputs() -> None:
    branch = {"StartAt": "B", "States": {"B": {"Type": "Pass", "Parameters": {"x.$": "$.x"},
                                               "End": True}}}
    state = {"Type": "Parallel", "Branches": [branch, ITEM_PASS], "End": True}
    assert output(run({"P": state}, {"x": 1})) == [{"x": 1}, {"x": 1}]


def test_a_failing_branch_fails_the_parallel_state() -> None:
    fail = {"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad"}}}
    result = run({"P": {"Type": "Parallel", "Branches": [ITEM_PASS, fail], "End": True}})
    assert (result["error"], types(result)[-2]) == ("Bad", "ParallelStateFailed")


def test_branches_read_outer_variables_and_their_assignments_stay_inside() -> None:
    inner = {"StartAt": "I", "States": {"I": {"Type": "Pass", "Assign": {"inner": 1, "x": 2},
                                              "Parameters": {"seen.$": "$x"}, "End": True}}}
    states = {
        "A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "P"},
        "P": {"Type": "Parallel", "Branches": [inner], "Next": "After"},
        "After": {"Type": "Pass", "Parameters": {"x.$": "$x", "branch.$": "$"}, "End": True},
    }
    assert output(run(states)) == {"x": 1, "branch": [{"seen": 1}]}


def test_output_path_reads_variables_as_they_were_before_the_states_assign() -> None:
    states = {
        "A": {"Type": "Pass", "Assign": {"v": "old"}, "Next": "B"},
        "B": {"Type": "Pass", "Assign": {"v": "new"}, "OutputPath": "$v", "Next": "C"},
        "C": {"Type": "Pass", "OutputPath": "$v", "End": True},
    }
    result = run(states)
    exited = [e for e in result["events"] if e["type"] == "PassStateExited"]
    assert exited[1]["stateExitedEventDetails"]["output"] == '"old"'
    assert exited[1]["stateExitedEventDetails"]["assignedVariables"] == {"v": '"new"'}
    assert output(result) == "new"


def test_item_batcher_gives_each_iteration_a_batch_of_items_and_the_batch_input() -> None:
    processor = {**ITEM_PASS, "ProcessorConfig": DISTRIBUTED}
    state = {"Type": "Map", "End": True, "ItemProcessor": processor,
             "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"k": 1}}}
    assert output(run({"M": state}, [1, 2, 3])) == [
        {"Items": [1, 2], "BatchInput": {"k": 1}}, {"Items": [3], "BatchInput": {"k": 1}}]


def test_parallel_branches_wait_at_the_same_time() -> None:
    wait = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3, "End": True}}}
    state = {"Type": "Parallel", "Branches": [wait, wait], "End": True}
    assert run({"P": state}, top={"TimeoutSeconds": 5})["status"] == "SUCCEEDED"


def test_a_failing_iteration_aborts_the_iterations_still_running() -> None:
    processor = {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Default": "W",
              "Choices": [{"Variable": "$", "NumericEquals": 1, "Next": "F"}]},
        "W": {"Type": "Wait", "Seconds": 10, "End": True},
        "F": {"Type": "Fail", "Error": "E"}}}
    result = run({"M": {"Type": "Map", "End": True, "ItemProcessor": processor}}, [0, 1])
    assert result["error"] == "E"
    assert "MapIterationAborted" in types(result)


def test_a_distributed_maps_iterations_cannot_read_the_parents_variables() -> None:
    processor = {"StartAt": "I", "ProcessorConfig": DISTRIBUTED, "States": {
        "I": {"Type": "Pass", "Parameters": {"x.$": "$x"}, "End": True}}}
    states = {"A": {"Type": "Pass", "Assign": {"x": 1}, "Next": "M"},
              "M": {"Type": "Map", "End": True, "ItemProcessor": processor}}
    assert run(states, [0])["status"] == "FAILED"


def test_an_item_reader_gets_the_items_from_its_resource_through_the_driver() -> None:
    reader = {"Resource": "arn:aws:states:::s3:getObject",
              "ReaderConfig": {"InputType": "JSON"}, "Parameters": {"Key.$": "$.key"}}
    processor = {**ITEM_PASS, "ProcessorConfig": DISTRIBUTED}
    state = {"Type": "Map", "End": True, "ItemReader": reader, "ItemProcessor": processor}
    asked = []

    def get_object(arguments: dict[str, str]) -> list[int]:
        asked.append(arguments)
        return [1, 2]

    result = run({"M": state}, {"key": "k"}, tasks={reader["Resource"]: get_object})
    assert (output(result), asked) == ([1, 2], [{"Key": "k"}])
    assert run({"M": state}, {"key": "k"})["error"] == "States.ItemReaderFailed"
