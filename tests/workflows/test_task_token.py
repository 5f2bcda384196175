"""Task tokens: a token leads back to its execution and attempt; anything else is refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eventbus.errors import InvalidToken
from eventbus.workflows.task_token import activity_name, decode_token, encode_token, is_callback


@given(st.text(), st.text())
def test_a_token_decodes_to_the_execution_and_attempt_it_was_made_of(arn: str,
                                                                     attempt: str) -> None:
    assert decode_token(encode_token(arn, attempt)) == (arn, attempt)


@given(st.text())
def test_any_other_text_is_an_invalid_token_or_decodes_to_text(token: str) -> None:
    try:
        arn, attempt = decode_token(token)
    except InvalidToken:
        return
    assert isinstance(arn, str) and isinstance(attempt, str)


@pytest.mark.parametrize(("resource", "callback", "activity"), [
    ("arn:aws:states:us-east-1:123456789012:activity:resize", True, "resize"),
    ("arn:aws:states:::sqs:sendMessage.waitForTaskToken", True, None),
    ("arn:aws:states:::lambda:invoke", False, None),
    ("arn:aws:states:us-east-1:123456789012:stateMachine:resize", False, None),
])
def test_callback_resources_are_activities_and_wait_for_task_token_integrations(
    resource: str, callback: bool, activity: str | None,
) -> None:
    assert (is_callback(resource), activity_name(resource)) == (callback, activity)
