from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.data.load import detect_columns, load_dataset
from core.errors import DataError
from tests.fixtures.data import REVIEWS


@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        (["package_name", "review", "date", "star"], ("review", "star")),
        (["source", "review_description", "rating", "review_date"], ("review_description", "rating")),
        (["Text", "Score"], ("Text", "Score")),
        (["review_body", "stars"], ("review_body", "stars")),
        (["content", "label"], ("content", "label")),
        (["a", "b"], (None, None)),
    ],
)
def test_detect_columns(columns, expected):
    assert detect_columns(columns) == expected


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame({"review": [t for t, _ in REVIEWS], "star": [int(s) for _, s in REVIEWS]})


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_every_format_loads_the_same_rows(tmp_path, frame, suffix):
    path = tmp_path / f"data{suffix}"
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False)
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path)
    ds = load_dataset(path)
    assert (ds.text_column, ds.label_column) == ("review", "star")
    assert ds.frame["review"].tolist() == frame["review"].tolist()
    assert [str(v) for v in ds.frame["star"]] == [str(v) for v in frame["star"]]
    assert ds.fingerprint.startswith("sha256:") and len(ds.fingerprint) == 71


def test_threads_reviews_with_embedded_newlines(threads_csv):
    ds = load_dataset(threads_csv)
    assert ds.rows == 40_435
    assert (ds.text_column, ds.label_column) == ("review_description", "rating")
    assert ds.frame["review_description"].str.contains("\n").sum() == 456


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


BAD_INPUTS = [
    ("missing.csv", None, "file not found"),
    ("data.xlsx", b"whatever", "unknown format"),
    ("empty.csv", b"", "file is empty"),
    ("header.csv", b"review,star\n", "header but no rows"),
    ("cols.csv", b"a,b\n1,2\n", "no text column found; columns are: a, b"),
    ("binary.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary data"),
    ("latin1.csv", "review,star\nok,5\ncaf\xe9,4\n".encode("latin-1"), "invalid UTF-8 at line 3"),
    ("quote.csv", b'review,star\n"fine",5\n"broken,4\nok,3\n', "row"),
    ("fields.csv", b"review,star\nok,5\ntoo,many,fields\n", "row 2"),
    ("bad.jsonl", b'{"review": "a", "star": 5}\n{"review": \n', "row 2"),
]


@pytest.mark.parametrize(("name", "data", "expected"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_clear_line(tmp_path, name, data, expected):
    path = tmp_path / name if data is None else _write(tmp_path, name, data)
    with pytest.raises(DataError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    assert expected in message


def test_label_column_holding_text_is_refused(tmp_path, run_cli):
    path = _write(tmp_path, "swap.csv", b"star,review\n" + b"".join(
        f"{i},Great app number {i}\n".encode() for i in range(20)))
    out = tmp_path / "out"
    result = run_cli("prepare", path, "--out", out, "--text-column", "star", "--label-column", "review")
    assert result.exit_code == 2
    assert "column 'review'" in result.output and "holds text, not labels" in result.output
    assert not out.exists()


def test_cli_error_has_no_traceback_and_writes_nothing(tmp_path):
    bad = _write(tmp_path, "quote.csv", b'review,star\n"fine",5\n"broken,4\nok,3\n')
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "core", "prepare", str(bad), "--out", str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.startswith("startune: error: ") and proc.stderr.count("\n") == 1
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def test_hugging_face_name_offline_is_a_clear_error():
    with pytest.raises(DataError, match="unavailable offline"):
        load_dataset("app_reviews")
