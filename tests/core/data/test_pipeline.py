from __future__ import annotations

import hashlib

import orjson
import pytest

from core.records.formats import parse_record, read_examples
from core.data.pipeline import PrepareOptions, WriteChecks, prepare
from core.errors import ConfigError


def _files(out):
    return {p.name: p.read_bytes() for p in sorted(out.glob("*.jsonl"))}


def test_sample_build_manifest_and_counts(sample_csv, tmp_path):
    result = prepare(sample_csv, tmp_path / "b", PrepareOptions())
    m = result.manifest
    assert set(result.files) == {"train", "val", "test"}
    assert m["input"]["fingerprint"] == "sha256:" + hashlib.sha256(sample_csv.read_bytes()).hexdigest()
    assert m["options"]["seed"] == 42 and m["options"]["fractions"] == [0.6, 0.2, 0.2]
    total = sum(s["examples"] for s in m["splits"].values())
    assert total == m["cleaning"]["rows_out"]
    for name, split in m["splits"].items():
        data = result.files[name].read_bytes()
        assert hashlib.sha256(data).hexdigest() == split["sha256"]
        assert data.count(b"\n") == split["examples"] == sum(split["labels"].values())
    on_disk = orjson.loads((tmp_path / "b" / "manifest.json").read_bytes())
    assert on_disk == m


def test_same_seed_same_bytes_other_seed_other_bytes(sample_csv, tmp_path):
    a = _files(prepare(sample_csv, tmp_path / "a", PrepareOptions(seed=7)).out_dir)
    b = _files(prepare(sample_csv, tmp_path / "b", PrepareOptions(seed=7)).out_dir)
    c = _files(prepare(sample_csv, tmp_path / "c", PrepareOptions(seed=8)).out_dir)
    assert a == b
    assert a != c


def test_chat_records_round_trip_with_system_prompt(sample_csv, tmp_path):
    result = prepare(sample_csv, tmp_path / "b", PrepareOptions(system_prompt="Rate the review 1-5."))
    first = orjson.loads(result.files["train"].read_bytes().splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    assert first["messages"][2]["content"] in {"1", "2", "3", "4", "5"}
    examples = list(read_examples(result.files["train"]))
    assert all(e.system_prompt == "Rate the review 1-5." for e in examples)
    assert len(examples) == result.manifest["splits"]["train"]["examples"]


def test_completion_format_and_non_ascii_kept(tmp_path):
    src = tmp_path / "r.jsonl"
    src.write_text("\n".join(orjson.dumps({"text": t, "rating": s}).decode() for t, s in [
        ("Génial 👍", 5), ("Nul", 1), ("Bof", 3), ("Très bien", 4), ("Mauvais", 2)] * 3), encoding="utf-8")
    options = PrepareOptions(format="completion", stop="\n", dedup=False, fractions=(1.0, 0.0, 0.0))
    result = prepare(src, tmp_path / "b", options)
    raw = result.files["train"].read_bytes()
    assert "Génial 👍".encode() in raw  # not \u-escaped
    record = orjson.loads(raw.splitlines()[0])
    assert record["prompt"].endswith("\n\n###\n\n") and record["completion"].startswith(" ")
    assert record["completion"].endswith("\n")
    example = parse_record(record, stop="\n")
    assert example.text + "\n\n###\n\n" == record["prompt"]


def test_sorted_order_and_balanced_sampling(threads_csv, tmp_path):
    options = PrepareOptions(samples={"train": 500, "val": 100, "test": 100}, balance="equal", order="sorted")
    result = prepare(threads_csv, tmp_path / "b", options)
    assert result.manifest["splits"]["train"]["labels"] == dict.fromkeys("12345", 100)
    labels = [e.label for e in read_examples(result.files["train"])]
    assert labels == sorted(labels)
    texts = [set(e.text for e in read_examples(p)) for p in result.files.values()]
    assert not (texts[0] & texts[1] or texts[0] & texts[2] or texts[1] & texts[2])


def test_interrupted_write_leaves_no_file_under_a_final_name(sample_csv, tmp_path, monkeypatch):
    import core.data.pipeline as pipeline

    calls = []

    def failing_write(path, frame, fmt, **kw):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_write(path, frame, fmt, **kw)

    real_write = pipeline.write_jsonl
    monkeypatch.setattr(pipeline, "write_jsonl", failing_write)
    with pytest.raises(KeyboardInterrupt):
        prepare(sample_csv, tmp_path / "b", PrepareOptions())
    # the build is written aside and swapped in whole: nothing of it, and no temporary folder, is left
    assert sorted(p.name for p in tmp_path.iterdir()) == [".b.lock"]


def test_bad_options_are_config_errors(sample_csv, tmp_path):
    with pytest.raises(ConfigError, match="add up to 1"):
        prepare(sample_csv, tmp_path / "b", PrepareOptions(fractions=(0.5, 0.2, 0.2)))
    assert not (tmp_path / "b").exists()


def test_fast_writer_matches_plain_orjson_records():
    import pandas as pd

    from core.records.formats import chat_record, completion_record
    from core.data.write import jsonl_bytes

    # texts that could cut the writer's one-dumps-per-chunk output in the wrong place
    texts = ['say "hi"\n\tthere é 👍', "back\\slash", "</script>", 'a","b', '","', "ends\\", '\\","\\',
             "\x00\x1f\x7f\u2028", "", '"', "x" * 3, '",', "", "\x00", '\x00","\x00', "\\u0000"]
    frame = pd.DataFrame({"text": texts, "label": (["5", "1", "3", "2", "4"] * 4)[:len(texts)]})
    for system in (None, 'Be "brief"'):
        expected = b"".join(orjson.dumps(chat_record(t, y, system)) + b"\n" for t, y in zip(frame.text, frame.label))
        assert jsonl_bytes(frame, "chat", system_prompt=system) == expected
    for stop in (None, "\n", " END"):
        expected = b"".join(orjson.dumps(completion_record(t, y, "\n\n###\n\n", stop)) + b"\n"
                            for t, y in zip(frame.text, frame.label))
        assert jsonl_bytes(frame, "completion", stop=stop) == expected


def test_a_build_does_not_depend_on_how_the_reader_chunked_the_file(threads_csv, tmp_path, monkeypatch):
    """The streaming reader makes a column chunk per block: with many small blocks, every take of
    texts crosses chunks (and the exact-duplicate check reads other columns across them too)."""
    import core.data.load as load

    options = PrepareOptions(system_prompt="Stars?")
    whole = prepare(threads_csv, tmp_path / "one", options, checks=WriteChecks(validate=True))
    monkeypatch.setattr(load, "CSV_BLOCK", 1 << 16)
    chunked = prepare(threads_csv, tmp_path / "many", options, checks=WriteChecks(validate=True))
    assert load.load_dataset(threads_csv).frame["review_description"].array._pa_array.num_chunks > 30
    assert _files(tmp_path / "one") == _files(tmp_path / "many")
    assert whole.manifest["cleaning"] == chunked.manifest["cleaning"]
    assert whole.manifest["cleaning"]["exact_duplicates"] > 0
    for name, report in whole.validation.items():
        assert report.to_dict() | {"path": ""} == chunked.validation[name].to_dict() | {"path": ""}


def test_fast_writer_matches_orjson_on_any_texts():
    import pandas as pd
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from core.records.formats import chat_record
    from core.data.write import jsonl_bytes

    @settings(max_examples=500, deadline=None)
    @given(st.lists(st.tuples(st.text(alphabet=st.sampled_from('a",\\\n\x00é👍 ')) | st.text(),
                              st.sampled_from(["1", "5"])), max_size=12))
    def check(rows):
        frame = pd.DataFrame(rows, columns=["text", "label"], dtype=object)
        expected = b"".join(orjson.dumps(chat_record(t, y, None)) + b"\n" for t, y in rows)
        assert jsonl_bytes(frame, "chat") == expected

    check()


def test_a_conversation_of_several_turns_keeps_its_context_for_a_generative_model():
    from core.records.formats import parse_record

    one = parse_record({"messages": [{"role": "system", "content": "Rate it."}, {"role": "user", "content": "Great"},
                                     {"role": "assistant", "content": "5"}]}, 1)
    assert (one.text, one.label, one.system_prompt, one.context) == ("Great", "5", "Rate it.", None)
    several = parse_record({"messages": [
        {"role": "developer", "content": "Reply to reviewers."}, {"role": "user", "content": "It crashes"},
        {"role": "assistant", "content": "Sorry! Which phone?"}, {"role": "user", "content": "A Pixel 7"},
        {"role": "assistant", "content": "Thanks, fixed in 2.1"}]}, 2)
    assert (several.text, several.label) == ("A Pixel 7", "Thanks, fixed in 2.1")   # what a classifier reads
    assert several.context == (("system", "Reply to reviewers."), ("user", "It crashes"),
                               ("assistant", "Sorry! Which phone?"), ("user", "A Pixel 7"))
