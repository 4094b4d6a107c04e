"""Typed JSON values in the text and label columns (issue 18): no Python reprs, no tracebacks."""

from __future__ import annotations

import orjson
import pytest

from core.data.load import load_dataset
from core.errors import DataError
from tests.fixtures.data import REVIEWS


def _jsonl(path, records):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


def _reviews(n=40):
    return [{"review": f"{REVIEWS[i % len(REVIEWS)][0]} #{i}", "star": int(REVIEWS[i % len(REVIEWS)][1])}
            for i in range(n)]


@pytest.mark.parametrize("bad, kind", [({"a": 1}, "object"), (True, "boolean"), ([1, 2], "list")])
def test_non_text_reviews_are_refused_in_one_line(tmp_path, run_cli, bad, kind):
    records = _reviews()
    records[6]["review"] = bad
    path = _jsonl(tmp_path / "r.jsonl", records)
    result = run_cli("prepare", path, "--out", tmp_path / "build")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [result.output.strip()]
    assert f"row 7, column 'review': 1 of 40 values are not text (1 {kind})" in result.output
    assert not (tmp_path / "build").exists()


def test_numbers_are_read_as_their_digits(tmp_path):
    records = _reviews(4)
    records[0]["review"], records[1]["review"], records[2]["review"] = 123, 1.5, None
    ds = load_dataset(_jsonl(tmp_path / "r.jsonl", records))
    assert ds.frame["review"].tolist()[:3] == ["123", "1.5", ""]


def test_column_oriented_json_keeps_types_for_the_check(tmp_path):
    path = tmp_path / "r.json"
    path.write_bytes(orjson.dumps({"review": ["fine", {"x": 1}], "star": [5, 4]}))
    with pytest.raises(DataError, match="1 of 2 values are not text"):
        load_dataset(path)


def test_list_or_object_labels_are_counted_not_a_traceback(tmp_path, run_cli):
    records = _reviews()
    records[3]["star"] = [4, 5]
    records[9]["star"] = {"stars": 2}
    records[12]["extra"] = {"nested": [1]}  # another column with objects: whole-row duplicates still compare
    records.append(dict(records[12]))
    path = _jsonl(tmp_path / "r.jsonl", records)
    result = run_cli("prepare", path, "--out", tmp_path / "build", "--json")
    assert result.exit_code == 0, result.output
    cleaning = orjson.loads((tmp_path / "build" / "manifest.json").read_bytes())["cleaning"]
    assert cleaning["invalid_labels"] == {"list_or_object": 2}
    assert cleaning["exact_duplicates"] == 1
    text = b"".join((tmp_path / "build" / f"{s}.jsonl").read_bytes() for s in ("train", "val", "test"))
    assert b"{'" not in text and b"[4, 5]" not in text
