"""Every manifest startune writes has the declared shape (core.records.manifest): both preparation engines,
with and without token counts, and a launch of one's own files. mypy holds the code to the declaration;
this holds the files to it."""

from __future__ import annotations

import types
import typing

import orjson
import pytest

from core.records.manifest import BuildManifest


def conforms(value, shape, where: str = "manifest") -> None:
    """Raise AssertionError naming the first place where ``value`` is not of ``shape``."""
    origin, args = typing.get_origin(shape), typing.get_args(shape)
    if shape is typing.Any:
        return
    if typing.is_typeddict(shape):
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        hints = typing.get_type_hints(shape)
        unknown = set(value) - set(hints)
        assert not unknown, f"{where}: undeclared keys {sorted(unknown)}"
        missing = set(shape.__required_keys__) - set(value)
        assert not missing, f"{where}: missing {sorted(missing)}"
        for key, item in value.items():
            conforms(item, hints[key], f"{where}.{key}")
    elif origin in (typing.Union, types.UnionType):
        errors = []
        for option in args:
            try:
                conforms(value, option, where)
                return
            except AssertionError as exc:
                errors.append(str(exc))
        raise AssertionError("; ".join(errors))
    elif origin is dict:
        assert isinstance(value, dict), f"{where}: {value!r} is not an object"
        for key, item in value.items():
            conforms(item, args[1], f"{where}.{key}")
    elif origin is list:
        assert isinstance(value, list), f"{where}: {value!r} is not a list"
        for i, item in enumerate(value):
            conforms(item, args[0], f"{where}[{i}]")
    elif shape is type(None):
        assert value is None, f"{where}: {value!r} is not null"
    elif shape is int:
        assert isinstance(value, int) and not isinstance(value, bool), f"{where}: {value!r} is not an integer"
    else:
        assert isinstance(value, shape), f"{where}: {value!r} is not a {shape.__name__}"


def test_the_checker_sees_an_undeclared_key_a_missing_one_and_a_wrong_type():
    good = {"input": {"source": "x.csv"}, "splits": {"train": {"file": "train.jsonl", "examples": 3, "sha256": "a"}}}
    conforms(good, BuildManifest)
    for bad, said in (({**good, "extra": 1}, "undeclared keys ['extra']"), ({"input": {}}, "missing ['splits']"),
                      ({**good, "seed": "7"}, "manifest.seed: '7'")):
        with pytest.raises(AssertionError, match=said.replace("[", r"\[").replace("]", r"\]")):
            conforms(bad, BuildManifest)


@pytest.mark.parametrize("engine", ["memory", "duckdb"])
@pytest.mark.parametrize("tokens", ["--tokens", "--no-tokens"])
def test_both_engines_write_the_declared_manifest(run_cli, sample_csv, tmp_path, engine, tokens):
    out = tmp_path / "b"
    done = run_cli("prepare", sample_csv, "--out", out, "--engine", engine, tokens)
    assert done.exit_code == 0, done.output
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    conforms(manifest, BuildManifest)
    assert ("validation" in manifest) is (tokens == "--tokens")   # a launch prices from it, else counts itself


def test_a_launch_of_ones_own_files_records_the_declared_manifest(tmp_path):
    from core.jobs.inputs import LaunchInput
    from core.jobs.launch import _user_manifest

    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "ok"}, {"role": "assistant", "content": "5"}]}\n')
    conforms(_user_manifest(LaunchInput(train, None, None, tmp_path), 1, None), BuildManifest)
