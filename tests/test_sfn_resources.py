"""Names, ARNs and page tokens of the Step Functions API (pure)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.gateway.awsjson import ApiError
from eventbus.gateway.sfn_resources import check_name, page, parse_arn, resource_arn
from eventbus.settings import Settings

SETTINGS = Settings(account="111122223333", region="eu-west-1")


@given(
    names=st.lists(st.text(min_size=1, max_size=12), unique=True),
    size=st.integers(min_value=1, max_value=7),
)
def test_pages_walk_every_name_once_in_order(names: list[str], size: int) -> None:
    ordered = sorted(names)
    seen: list[str] = []
    params: dict[str, Any] = {"maxResults": size}
    while True:
        chosen, token = page(ordered, params, str)
        assert len(chosen) <= size
        seen += chosen
        if token is None:
            break
        params["nextToken"] = token
    assert seen == ordered


def test_a_page_goes_on_after_its_last_name_when_names_change_between_calls() -> None:
    first, token = page(["a", "b", "c", "d"], {"maxResults": 2}, str)
    assert first == ["a", "b"]
    # "b" deleted and "aa" created meanwhile: nothing repeated, nothing after "b" skipped.
    second, _ = page(["a", "aa", "c", "d"], {"maxResults": 2, "nextToken": token}, str)
    assert second == ["c", "d"]


def test_an_arn_round_trips_to_its_name() -> None:
    arn = resource_arn("stateMachine", "orders", SETTINGS)
    assert arn == "arn:aws:states:eu-west-1:111122223333:stateMachine:orders"
    assert parse_arn({"a": arn}, "a", "stateMachine", SETTINGS) == "orders"


@pytest.mark.parametrize("name", ["ok", "with-dash_and.dot", "n" * 80, "é"])
def test_names_aws_accepts(name: str) -> None:
    check_name(name)


@pytest.mark.parametrize("name", ["", "n" * 81, "a b", "a\nb", "x*", "q?", "a{b}", "p%", "c:d"])
def test_names_aws_refuses(name: str) -> None:
    with pytest.raises(ApiError) as caught:
        check_name(name)
    assert caught.value.code == "InvalidName"
