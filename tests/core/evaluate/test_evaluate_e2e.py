"""Evaluation end to end with the real openai client on the local backend."""

from __future__ import annotations


import orjson
import pytest

from core.backend.embedded import EmbeddedBackend
from core.backend.faults import FaultConfig
from core.data.pipeline import PrepareOptions, prepare
from core.evaluate.runner import EvalOptions, evaluate
from core.registry.db import Registry
from tests.core.backend.helpers import wait_for


class SimulatedCrash(Exception):
    """Stands for Ctrl-C or a killed process in the middle of an evaluation."""


@pytest.fixture(scope="module")
def build(tmp_path_factory, threads_csv):
    out = tmp_path_factory.mktemp("threads-build")
    prepare(threads_csv, out, PrepareOptions(samples={"train": 3000, "val": 300, "test": 300}, seed=5))
    return out


async def _fine_tune(client, build):
    train = await client.files.create(file=build / "train.jsonl", purpose="fine-tune")
    job = await client.fine_tuning.jobs.create(model="startune-local", training_file=train.id, seed=1)
    job = await wait_for(client, job.id, timeout=120)
    assert job.status == "succeeded"
    return job.fine_tuned_model


async def test_fine_tuned_beats_its_base_and_is_stored(build, tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    async with EmbeddedBackend(tmp_path / "b") as backend:
        client = backend.client()
        model = await _fine_tune(client, build)
        tuned = await evaluate(client, model, build / "test.jsonl", registry=registry)
        base = await evaluate(client, "startune-local", build / "test.jsonl", registry=registry)
    # the untrained base answers with a sentiment lexicon (zero-shot), a real floor to beat
    assert tuned.metrics["accuracy"] > base.metrics["accuracy"] + 0.1
    assert tuned.metrics["macro_f1"] > base.metrics["macro_f1"] + 0.05
    assert tuned.metrics["unparseable"] == 0 and tuned.metrics["with_label_probabilities"] == 300
    stored = {e["model"]: e["report"] for e in registry.evaluations()}
    assert stored[model]["accuracy"] == tuned.metrics["accuracy"]


async def test_interrupted_evaluation_resumes_without_asking_twice(build, tmp_path):
    registry = Registry(tmp_path / "r.sqlite3")
    async with EmbeddedBackend(tmp_path / "b") as backend:
        client = backend.client(max_retries=0)  # evaluation retries by its own policy
        sent, answered = [], []
        original = client.chat.completions.create

        async def counting(**kw):
            sent.append(kw["messages"][-1]["content"])
            if len(sent) == 120:
                raise SimulatedCrash
            response = await original(**kw)
            answered.append(kw["messages"][-1]["content"])
            return response

        client.chat.completions.create = counting
        options = EvalOptions(limit=200)
        with pytest.raises(SimulatedCrash):
            await evaluate(client, "startune-local", build / "test.jsonl", options, concurrency=4, registry=registry)
        first_run = len(answered)
        assert 100 <= first_run < 200
        report = await evaluate(client, "startune-local", build / "test.jsonl", options, concurrency=4,
                                registry=registry)
    assert report.metrics["n"] == 200
    assert report.answered_now == 200 - first_run
    assert len(answered) == len(set(answered)) == 200  # every example answered exactly once


async def test_evaluation_under_faults_gives_the_same_metrics(build, tmp_path):
    options = EvalOptions(limit=80)
    async with EmbeddedBackend(tmp_path / "clean") as backend:
        clean = await evaluate(backend.client(), "startune-local", build / "test.jsonl", options)
    faults = FaultConfig(rate_429=0.15, rate_500=0.05, rate_drop=0.02, seed=3)
    async with EmbeddedBackend(tmp_path / "faulty", faults=faults) as backend:
        faulty = await evaluate(backend.client(max_retries=0), "startune-local", build / "test.jsonl", options)
    assert faulty.metrics == clean.metrics


def test_cli_evaluate_json(run_cli, build):
    result = run_cli("evaluate", "startune-local", "--data", build / "test.jsonl", "--limit", "30", "--json")
    assert result.exit_code == 0, result.output
    report = orjson.loads(result.stdout)
    assert {"accuracy", "macro_f1", "per_label", "confusion", "mae", "unparseable"} <= set(report)
    again = orjson.loads(run_cli("evaluate", "startune-local", "--data", build / "test.jsonl", "--limit", "30",
                                 "--json").stdout)
    assert again["answered_now"] == 0 and again["accuracy"] == report["accuracy"]


def test_few_shot_examples_are_balanced_and_seeded(build):
    from core.evaluate.runner import build_request, pick_shots

    shots = pick_shots(build / "train.jsonl", 5, list("12345"), seed=1)
    assert sorted(s.label for s in shots) == list("12345")
    assert [s.text for s in shots] == [s.text for s in pick_shots(build / "train.jsonl", 5, list("12345"), seed=1)]
    example = next(iter(__import__("core.records.formats", fromlist=["read_examples"]).read_examples(build / "test.jsonl")))
    kind, body = build_request("m", example, shots, EvalOptions(system_prompt="Stars?"), logprobs=True)
    roles = [m["role"] for m in body["messages"]]
    assert kind == "chat" and roles == ["system"] + ["user", "assistant"] * 5 + ["user"]
    assert body["temperature"] == 0 and body["top_logprobs"] == 5


def test_few_shot_base_model_runs(run_cli, build):
    result = run_cli("evaluate", "startune-local", "--data", build / "test.jsonl", "--few-shot", "3", "--limit", "20",
                     "--json")
    assert result.exit_code == 0, result.output
    assert orjson.loads(result.stdout)["n"] == 20


def test_a_review_longer_than_the_model_reads_is_one_unanswered_example(run_cli, build, tmp_path):
    """The backend refuses it (context_length_exceeded); the evaluation of the other examples goes on."""
    lines = (build / "test.jsonl").read_text().splitlines()[:20]
    long_review = " ".join(f"w{i}" for i in range(20_000))   # well past the local models' 16,384 tokens
    lines.insert(7, orjson.dumps({"messages": [{"role": "user", "content": long_review},
                                               {"role": "assistant", "content": "3"}]}).decode())
    data = tmp_path / "with_long.jsonl"
    data.write_text("\n".join(lines) + "\n")
    report = run_cli("evaluate", "startune-local", "--data", data, "--json")
    assert report.exit_code == 0, report.output
    metrics = orjson.loads(report.stdout)
    assert metrics["n"] == 21 and metrics["too_long"] == 1 and metrics["unparseable"] >= 1
    human = run_cli("evaluate", "startune-local", "--data", data)
    assert human.exit_code == 0 and "1 examples longer than the model reads were refused" in human.stdout


def test_with_a_limit_an_answer_naming_a_label_the_first_examples_lack_is_still_that_label(run_cli, tmp_path):
    """--limit scores the first N examples, but against every label of the file: a model answering "5"
    to a first few all labelled "1" is wrong, not unparseable (CI once saw unparseable 1 of 5 this way)."""
    praise = "Absolutely wonderful app, I love it, perfect, fantastic, the best, amazing, excellent, great"
    rows = [(praise, "1"), (praise, "1"), ("Terrible, awful, crashes, hate it, worst, useless, broken", "5"),
            ("It is fine I guess, average, okay", "3")]
    data = tmp_path / "few.jsonl"
    data.write_text("".join(orjson.dumps({"messages": [{"role": "user", "content": text},
                                                       {"role": "assistant", "content": star}]}).decode() + "\n"
                            for text, star in rows))
    report = run_cli("evaluate", "startune-local", "--data", data, "--limit", "2", "--json")
    assert report.exit_code == 0, report.output
    metrics = orjson.loads(report.stdout)
    assert metrics["n"] == 2 and metrics["unparseable"] == 0
    assert metrics["accuracy"] == 0.0    # the lexicon answers 4 or 5 to praise: wrong, and counted as wrong
