"""Compressed inputs are read like plain ones; duplicate column names are one line."""

from __future__ import annotations

import bz2
import gzip
import lzma

import pytest

from core.data.load import load_dataset
from core.errors import DataError

CSV = 'review,star\n"two\nlines",5\nfine,3\n'
TSV = "review\tstar\nsharp\t4\nfine\t3\n"
JSONL = '{"review": "a", "star": 5}\n{"review": "b", "star": 1}\n'
JSON = '[{"review": "a", "star": 5}, {"review": "b", "star": 1}]'


@pytest.mark.parametrize("name, text, opener", [
    ("r.csv.gz", CSV, gzip.open), ("r.tsv.gz", TSV, gzip.open), ("r.jsonl.gz", JSONL, gzip.open),
    ("r.json.gz", JSON, gzip.open), ("r.csv.bz2", CSV, bz2.open), ("r.jsonl.xz", JSONL, lzma.open),
])
def test_compressed_inputs_are_read(tmp_path, name, text, opener):
    path = tmp_path / name
    with opener(path, "wb") as fh:
        fh.write(text.encode())
    plain = tmp_path / name.rsplit(".", 1)[0]
    plain.write_text(text)
    ds, expected = load_dataset(path), load_dataset(plain)
    assert ds.source == str(path) and ds.format == expected.format
    assert ds.frame.astype(str).values.tolist() == expected.frame.astype(str).values.tolist()


def test_errors_in_a_compressed_file_name_it_and_the_row(tmp_path):
    path = tmp_path / "bad.jsonl.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(b'{"review": "a", "star": 5}\n{oops\n')
    with pytest.raises(DataError) as caught:
        load_dataset(path)
    assert str(caught.value).startswith(f"{path}, row 2: invalid JSON")


def test_a_corrupt_compressed_file_is_one_line(tmp_path):
    path = tmp_path / "fake.csv.gz"
    path.write_bytes(b"this is not gzip")
    with pytest.raises(DataError, match=r"cannot decompress \(gzip\)"):
        load_dataset(path)


def test_duplicate_column_names_are_one_line(run_cli, tmp_path):
    path = tmp_path / "dup.csv"
    path.write_text("review,star,review\nhello,5,x\nbad,1,y\n")
    result = run_cli("inspect", path)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"startune: error: {path}: duplicate column names: 'review' is columns 1, 3 "
                                     "(rename them so each column has its own name)")
