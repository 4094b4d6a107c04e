from __future__ import annotations

import orjson
import pytest

from core.validation.cost import default_epochs, estimate_cost
from core.validation.models import model_info
from core.validation.tokens import count_chat_tokens, get_encoding
from core.validation.validate import validate_file


def _chat(user="hi", answer="5", system=None):
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": user}, {"role": "assistant", "content": answer}]
    return {"messages": messages}


def _write(tmp_path, records, name="f.jsonl"):
    path = tmp_path / name
    lines = [r if isinstance(r, (bytes, str)) else orjson.dumps(r) for r in records]
    path.write_bytes(b"\n".join(x.encode() if isinstance(x, str) else x for x in lines) + b"\n")
    return path


def test_encodings_are_tiktokens_own_offline():
    # Known token ids of these vocabularies (o200k_base and cl100k_base)
    assert get_encoding("o200k_base").encode("Hello world") == [13225, 2375]
    assert get_encoding("cl100k_base").encode("Hello world") == [9906, 1917]
    assert get_encoding("o200k_base").n_vocab == 200_019


def test_model_table():
    assert model_info("gpt-4o-mini").encoding == "o200k_base"
    assert model_info("gpt-4o-mini").max_example_tokens == 65_536
    assert model_info("gpt-4.1-nano").max_example_tokens == 65_536
    assert model_info("gpt-3.5-turbo").encoding == "cl100k_base"
    assert model_info("gpt-3.5-turbo").max_example_tokens == 16_385
    assert model_info("ft:gpt-4o-mini-2024-07-18:org::abc").name == "gpt-4o-mini-2024-07-18"


def test_price_override_file(isolated_home):
    config = isolated_home / "config"
    config.mkdir(exist_ok=True)
    (config / "prices.json").write_bytes(orjson.dumps({"gpt-4o-mini-2024-07-18": {"training_usd_per_1m": 1.0}}))
    assert estimate_cost(2_000_000, 2, "gpt-4o-mini").usd == 4.0


def test_clean_file_tokens_and_cost(tmp_path):
    records = [_chat(f"review number {i}", str(i % 5 + 1)) for i in range(20)]
    report = validate_file(_write(tmp_path, records), "gpt-4o-mini")
    assert report.ok and report.format == "chat" and report.n_examples == 20
    enc = get_encoding("o200k_base")
    expected = [count_chat_tokens(r["messages"], enc)[0] for r in records]
    assert report.token_stats["total"] == sum(expected) == report.billed_tokens_per_epoch
    assert report.default_epochs == 5  # 20 examples x 3 epochs < 100 -> 100 // 20
    assert report.cost.usd == pytest.approx(sum(expected) * 5 * 3.0 / 1e6, abs=1e-4)


def test_chat_token_count_matches_openai_cookbook_arithmetic():
    enc = get_encoding("o200k_base")
    messages = [{"role": "user", "content": "Hello world"}, {"role": "assistant", "content": "5"}]
    # 3 priming + per message (3 + role + content)
    expected = 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)
    assert count_chat_tokens(messages, enc) == (expected, len(enc.encode("5")))


@pytest.mark.parametrize(("record", "code"), [
    (b"not json", "invalid_json"),
    ([1, 2], "data_type"),
    ({"messages": "hello"}, "missing_messages_list"),
    ({"messages": [{"content": "hi"}, {"role": "assistant", "content": "5"}]}, "message_missing_key"),
    ({"messages": [{"role": "user", "content": "hi", "mood": "x"}, {"role": "assistant", "content": "5"}]},
     "message_unrecognized_key"),
    ({"messages": [{"role": "robot", "content": "hi"}, {"role": "assistant", "content": "5"}]},
     "unrecognized_role"),
    ({"messages": [{"role": ["user"], "content": "hi"}, {"role": "assistant", "content": "5"}]},
     "unrecognized_role"),  # issue 18: an unhashable role was a TypeError
    ({"messages": [{"role": {"name": "user"}, "content": "hi"}, {"role": "assistant", "content": "5"}]},
     "unrecognized_role"),
    ({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "5"}]}, "missing_content"),
    ({"messages": [{"role": "user", "content": "hi"}]}, "example_missing_assistant_message"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "5", "weight": 0.5}]},
     "invalid_weight"),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "5", "weight": True}]},
     "invalid_weight"),
    ({"prompt": "x\n\n###\n\n", "completion": " 5"}, "mixed_formats"),
])
def test_each_format_error_category_names_its_line(tmp_path, record, code):
    records = [_chat(f"ok {i}") for i in range(12)]
    records.insert(4, record)
    report = validate_file(_write(tmp_path, records))
    assert not report.ok
    assert report.error_counts == {code: 1}
    assert report.errors[0].line == 5


def test_too_few_examples_and_empty(tmp_path):
    report = validate_file(_write(tmp_path, [_chat()] * 3))
    assert report.error_counts == {"too_few_examples": 1}
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert validate_file(empty).error_counts == {"empty_file": 1}


def test_example_over_the_model_limit_is_counted(tmp_path):
    long = "word " * 17_000
    records = [_chat(long)] + [_chat(f"short {i}") for i in range(10)]
    path = _write(tmp_path, records)
    assert validate_file(path, "gpt-3.5-turbo").n_over_limit == 1
    report = validate_file(path, "gpt-4o-mini")
    assert report.n_over_limit == 0 and report.ok


def test_completion_format_checks(tmp_path):
    records = [{"prompt": f"text {i}\n\n###\n\n", "completion": f" {i % 5 + 1}"} for i in range(10)]
    records.append({"prompt": "no separator", "completion": "5"})
    report = validate_file(_write(tmp_path, records))
    assert report.ok and report.format == "completion" and report.model == "babbage-002"
    assert any("no longer trains" in w for w in report.warnings)
    assert any("1 completions do not start with a space" in w for w in report.warnings)
    assert any("1 prompts do not end with a separator" in w for w in report.warnings)


def test_default_epochs_heuristic():
    assert default_epochs(10) == 10
    assert default_epochs(1000) == 3
    assert default_epochs(20_000) == 1
    assert default_epochs(2) == 25
