"""What a record holds once read: the answer a classifier learns, and for a generative model the turns it
follows and which assistant turns it trains on (OpenAI's weight)."""

from __future__ import annotations

import pytest

from core.records.formats import chat_record, parse_record


def test_a_one_turn_record_is_the_answer_alone():
    example = parse_record(chat_record("Great app", "5", "Rate it"), 3)
    assert (example.line, example.text, example.label, example.system_prompt) == (3, "Great app", "5", "Rate it")
    assert example.context is None and example.answer_weights is None


def test_the_weights_of_a_conversation_follow_its_assistant_turns():
    example = parse_record({"messages": [
        {"role": "system", "content": "Support"},
        {"role": "user", "content": "It crashes"}, {"role": "assistant", "content": "Which phone?", "weight": 0},
        {"role": "user", "content": "A Pixel 7"}, {"role": "assistant", "content": "Fixed in 2.1"}]})
    assert example.text == "A Pixel 7" and example.label == "Fixed in 2.1"
    assert [role for role, _ in example.context] == ["system", "user", "assistant", "user"]
    assert example.answer_weights == (0, 1)


@pytest.mark.parametrize("weight, expected", [(0, (0,)), (1, None)])
def test_a_one_turn_answer_of_weight_zero_is_said(weight, expected):
    example = parse_record({"messages": [{"role": "user", "content": "hi"},
                                         {"role": "assistant", "content": "5", "weight": weight}]})
    assert example.label == "5" and example.answer_weights == expected
