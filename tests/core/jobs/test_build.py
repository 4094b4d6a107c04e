"""One road to a build (core.jobs.build): `startune prepare`, `startune run` and the app's Build screen take
the same engine for the same input, and each registers what it built."""

from __future__ import annotations

import orjson
import pytest
from core.registry.db import Registry

SAMPLES = "train=60,val=20,test=20"


SMALL_RAM = 1 << 20   # a machine on which the 276 KB sample is over an eighth of RAM


def _engine(build_dir) -> str:
    return orjson.loads((build_dir / "manifest.json").read_bytes()).get("engine", "memory")


@pytest.mark.parametrize("large", [False, True], ids=["fits-in-ram", "over-an-eighth-of-ram"])
def test_prepare_and_run_take_the_same_engine_and_register_the_build(run_cli, sample_csv, tmp_path, monkeypatch,
                                                                     large):
    if large:
        monkeypatch.setattr("core.data.outofcore.total_memory", lambda: SMALL_RAM)
    expected = "duckdb" if large else "memory"
    prepared = run_cli("prepare", sample_csv, "--out", tmp_path / "p", "--samples", SAMPLES)
    assert prepared.exit_code == 0, prepared.output
    ran = run_cli("run", sample_csv, "--out", tmp_path / "r", "--samples", SAMPLES, "--epochs", "1", "--json")
    assert ran.exit_code == 0, ran.output
    assert _engine(tmp_path / "p") == _engine(tmp_path / "r") == expected
    registered = {b["out_dir"] for b in Registry().list_builds()}
    assert {str(tmp_path / "p"), str(tmp_path / "r")} <= registered


def test_a_broken_manifest_among_the_builds_is_passed_over_when_looking_for_an_identical_one(sample_csv):
    from core.data.pipeline import PrepareOptions, prepare
    from core.jobs.build import find_identical_build
    from core.paths import runs_dir

    options = PrepareOptions(samples={"train": 60, "val": 20, "test": 20})
    builds = runs_dir() / "builds"
    good = prepare(sample_csv, builds / "a", options).out_dir
    for name, content in (("z1", b"[]"), ("z2", b"not json"), ("z3", b'{"options": 1}')):   # looked at first
        (builds / name).mkdir()
        (builds / name / "manifest.json").write_bytes(content)
    assert find_identical_build(sample_csv, options) == good


def test_the_builds_offered_for_a_launch_leave_out_a_folder_whose_manifest_is_no_manifest(sample_csv):
    from core.data.pipeline import PrepareOptions, prepare
    from core.jobs.launch import recent_builds
    from core.paths import runs_dir

    builds = runs_dir() / "builds"
    good = prepare(sample_csv, builds / "a", PrepareOptions(samples={"train": 60, "val": 20, "test": 20})).out_dir
    broken = builds / "b"
    broken.mkdir()
    (broken / "train.jsonl").write_bytes((good / "train.jsonl").read_bytes())
    (broken / "manifest.json").write_bytes(b"[]")
    assert [b["path"] for b in recent_builds(Registry())] == [good]
