"""Issue 29: the command line under hostile or careless input. Each case runs ``python -m core`` in a child
process with an address-space limit and a timeout, so a regression fails (killed, or out of memory) instead
of filling the machine; the answer must be one ``startune: error:`` line and exit 2."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
MEMORY = 2 * 2**30


def startune(*args, memory: int = MEMORY, timeout: float = 30, cwd: Path | None = None) -> subprocess.CompletedProcess:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    return subprocess.run([sys.executable, "-m", "core", *map(str, args)], cwd=cwd or REPO, text=True,
                          capture_output=True, timeout=timeout, preexec_fn=limit,
                          env=os.environ | {"PYTHONPATH": str(REPO)})


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("startune: error: "), done.stderr[-2000:]
    return lines[0]


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_validate_dev_zero_ends_with_one_line_naming_the_line(tmp_path):
    link = tmp_path / "zero.jsonl"
    link.symlink_to("/dev/zero")
    for target in ("/dev/zero", link):
        line = one_line_error(startune("validate", target))
        assert str(target) in line and "row 1" in line and "longer than 16 MB" in line, line


@pytest.mark.parametrize("spec, said", [("1-100000000", "100,000,000 labels; at most 50"),
                                        ("5-1", "label range '5-1' is reversed"),
                                        (",".join(map(str, range(51))), "51 labels; at most 50")])
def test_labels_past_the_class_limit_or_reversed_are_one_line(sample_csv, spec, said):
    line = one_line_error(startune("inspect", sample_csv, "--labels", spec))
    assert said in line, line


def test_labels_at_the_class_limit_still_parse():
    from core.data.labels import MAX_LABELS, LabelSet
    from core.backend.training import MAX_CLASSES

    assert MAX_LABELS == MAX_CLASSES
    assert len(LabelSet.parse(f"1-{MAX_LABELS}").values) == MAX_LABELS
    assert LabelSet.parse("-2-2").values == ("-2", "-1", "0", "1", "2")


@pytest.mark.parametrize("args, said", [
    (("prepare", "{csv}", "--out", "{out}", "--split", "nan,0.5,0.5"), "must be finite numbers"),
    (("prepare", "{csv}", "--out", "{out}", "--split", "inf,0,0"), "must be finite numbers"),
    (("prepare", "{csv}", "--out", "{out}", "--seed", "-1"), "--seed '-1': a whole number"),
    (("prepare", "{csv}", "--out", "{out}", "--seed", "1180591620717411303424"), "--seed '1180591620717411303424'"),
    (("inspect", "{csv}", "--page", "-1"), "--page -1: "),
    (("inspect", "{csv}", "--page", "1000000000"), "has pages 1 to 302 (10 rows each)"),
    (("inspect", "{csv}", "--page-size", "0"), "--page-size 0: give at least 1"),
])
def test_careless_values_are_one_line(sample_csv, tmp_path, args, said):
    line = one_line_error(startune(*(a.format(csv=sample_csv, out=tmp_path / "out") for a in args)))
    assert said in line, line
    assert not (tmp_path / "out").exists()


def test_an_unknown_model_is_named_with_the_limits_assumed(tmp_path):
    from tests.fixtures.backend import write_chat_jsonl

    done = startune("validate", write_chat_jsonl(tmp_path / "t.jsonl", 12), "--model", "gpt-9-ultra")
    assert done.returncode == 0, done.stderr
    said = " ".join(done.stdout.split())
    assert "gpt-9-ultra: unknown model; assumed o200k_base tokens and a 65,536-token example limit" in said, said


def test_an_empty_val_and_test_split_is_a_warning(sample_csv, tmp_path):
    import orjson

    done = startune("prepare", sample_csv, "--out", tmp_path / "out", "--split", "1,0,0")
    assert done.returncode == 0, done.stderr
    assert "warning: val.jsonl and test.jsonl are empty (--split 1,0,0)" in done.stderr
    manifest = orjson.loads((tmp_path / "out" / "manifest.json").read_bytes())
    assert any("are empty" in w for w in manifest["warnings"])


@pytest.fixture
def fifty_mb_field(tmp_path) -> Path:
    path = tmp_path / "big.csv"
    with path.open("w") as f:
        f.write("text,label\n")
        f.writelines(f"review number {i} is fine,{i % 5 + 1}\n" for i in range(50))
        f.write("a" * 50_000_000 + ",3\n")
        f.writelines(f"another review {i},{i % 5 + 1}\n" for i in range(50))
    return path


def test_inspect_names_a_fifty_mb_field_and_shows_its_start(fifty_mb_field):
    done = startune("inspect", fifty_mb_field, "--page", "6")
    assert done.returncode == 0, done.stderr[-2000:]
    said = " ".join(done.stdout.split())
    assert "row 51: text is 50,000,000 characters; a text may have at most 1,000,000" in said, said[:3000]
    assert len(done.stdout) < 50_000 and "characters)" in done.stdout, "the long text was not cut"


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_prepare_refuses_a_fifty_mb_field_naming_its_row(fifty_mb_field, tmp_path, engine):
    line = one_line_error(startune("prepare", fifty_mb_field, "--out", tmp_path / "out", "--engine", engine))
    assert "row 51" in line, line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_a_three_mb_text_is_refused_the_same_way_by_both_engines(tmp_path, engine):
    path = tmp_path / "mid.csv"
    path.write_text("text,label\n" + "".join(f"review {i},{i % 5 + 1}\n" for i in range(20)) + "b" * 3_000_000 + ",3\n")
    line = one_line_error(startune("prepare", path, "--out", tmp_path / "out", "--engine", engine))
    assert "row 21, column 'text': text is 3,000,000 characters; a text may have at most 1,000,000" in line, line


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
def test_a_one_gb_sparse_file_is_refused_at_once(tmp_path, engine):
    path = tmp_path / "sparse.csv"
    with path.open("wb") as f:
        f.write(b"text,label\n")
        f.truncate(2**30)
    line = one_line_error(startune("prepare", path, "--out", tmp_path / "out", "--engine", engine))
    assert "binary data, not CSV text" in line, line


def test_a_row_past_duckdbs_line_cap_is_named(tmp_path):
    path = tmp_path / "long.csv"
    with path.open("wb") as f:
        f.write(b"text,label\nfine,5\n" + b"a" * (20 * 2**20) + b",3\n")
    line = one_line_error(startune("prepare", path, "--out", tmp_path / "out", "--engine", "duckdb"))
    assert "row 2: row is longer than 16 MB" in line, line


def test_token_counts_encode_long_texts_a_slice_at_a_time(monkeypatch):
    from core.validation import tokens

    enc = tokens.get_encoding("o200k_base")
    real, seen = enc.encode_ordinary, []
    text = "love it " * 100_000 + "a" * 50_000
    whole = len(real(text[:800_000]))
    monkeypatch.setattr(enc, "encode_ordinary", lambda t: seen.append(len(t)) or real(t))
    counts = tokens.count_many([text[:800_000], text], enc)
    assert max(seen) <= tokens.SLICE_CHARS
    assert counts[0] == whole, "cutting before a space changed the count"


def test_audit_refuses_a_fifty_mb_field_as_prepare_does(fifty_mb_field):
    line = one_line_error(startune("audit", fifty_mb_field))
    assert "row 51, column 'text': text is 50,000,000 characters" in line, line
