"""A transformer job on several devices (torch DDP), proven on a CPU: 2 gloo processes train the job one
process trains, every event once, and a server killed with -9 mid-training resumes the job on restart.

The tiny BERT here has no dropout, so a run is a function of its data and steps alone: one device and two
then differ only by float rounding (the two halves of a batch are summed in another order), and TOLERANCE
bounds that. A sharding mistake (an example twice, one left out, halves weighted wrong) moves the losses
by far more (the test fails at once if rank 1's share is left out: tried by hand)."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import openai
import pytest

from core.backend.embedded import EmbeddedBackend
from tests.core.backend.helpers import all_events, wait_for
from tests.core.backend.test_transformer import one_torch_thread, toy_examples, write_tiny_bert  # noqa: F401
from tests.core.backend.test_transformer_jobs import write_chat
from tests.fixtures.backend import free_port

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
TOLERANCE = 2e-5          # absolute, on losses, accuracies and probabilities (measured: 2e-7)
HP = {"n_epochs": 4, "batch_size": 8, "learning_rate_multiplier": 100}   # it learns: accuracy 1.0 at the end
STEPS = 4 * 8
PROBES = ["the app is great and love", "the app is crash and slow", "it is okay", "very bad update"]


@pytest.fixture(scope="module", autouse=True)
def on_the_cpu():
    """gloo on the CPU even where a GPU is (benchmarks/gpu_check.sh runs these tests on CUDA)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("STARTUNE_DEVICE", "cpu")
        patch.delenv("STARTUNE_DEVICES", raising=False)
        yield


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    model = write_tiny_bert(folder / "tiny-bert", dropout=0.0)
    # 61 examples in batches of 8: the last batch (5) splits 3 and 2, so the halves must be weighed right
    train = write_chat(folder / "train.jsonl", [(e.text, e.label) for e in toy_examples(61)])
    valid = write_chat(folder / "valid.jsonl", [(e.text, e.label) for e in toy_examples(24, 1000)])
    return model, train, valid


async def _create(client, files):
    model, train, valid = files
    train_id = (await client.files.create(file=train, purpose="fine-tune")).id
    valid_id = (await client.files.create(file=valid, purpose="fine-tune")).id
    return await client.fine_tuning.jobs.create(
        model=f"hf:{model}", training_file=train_id, validation_file=valid_id, seed=11,
        method={"type": "supervised", "supervised": {"hyperparameters": HP}})


async def _outcome(client, job_id: str) -> dict:
    """What a user gets from a finished job: its events, result file and the model's answers."""
    done = await wait_for(client, job_id, timeout=240)
    assert done.status == "succeeded", done.error
    events = await all_events(client, job_id)
    result = base64.b64decode((await client.files.content(done.result_files[0])).read()).decode()
    answers = []
    for text in PROBES:
        reply = await client.chat.completions.create(model=done.fine_tuned_model, logprobs=True, top_logprobs=2,
                                                     messages=[{"role": "user", "content": text}])
        answers.append({t.token: np.exp(t.logprob) for t in reply.choices[0].logprobs.content[0].top_logprobs})
    return {"job": done, "events": events, "result": result.splitlines(), "answers": answers}


async def _run(data_dir: Path, devices, files) -> dict:
    async with EmbeddedBackend(data_dir, lease=5.0, devices=devices) as backend:
        client = backend.client()
        job = await _create(client, files)
        return await _outcome(client, job.id)


def _steps(events) -> list[dict]:
    return [e.data for e in events if e.type == "metrics" and "full_valid_loss" not in e.data]


def _assert_each_event_once(events, total_steps: int) -> None:
    assert len({e.id for e in events}) == len(events)
    assert [s["step"] for s in _steps(events)] == list(range(1, total_steps + 1))
    said = Counter(e.message for e in events if e.type != "metrics")
    assert said and max(said.values()) == 1, said
    assert sum(m.startswith("Checkpoint created at step ") for m in said) == HP["n_epochs"]


def _assert_same_results(got: dict, expected: dict) -> None:
    for a, b in zip(_steps(got["events"]), _steps(expected["events"]), strict=True):
        assert a.keys() == b.keys() and a["step"] == b["step"]
        for key in a.keys() - {"step", "total_steps"}:
            assert abs(a[key] - b[key]) <= TOLERANCE, (a["step"], key, a[key], b[key])
    full = [next(e.data for e in o["events"] if "full_valid_loss" in (e.data or {})) for o in (got, expected)]
    for key in ("full_valid_loss", "full_valid_mean_token_accuracy"):
        assert abs(full[0][key] - full[1][key]) <= TOLERANCE, (key, full)
    assert got["result"][0] == expected["result"][0] and len(got["result"]) == len(expected["result"])
    rows = [np.array([[float(c) if c else np.nan for c in line.split(",")] for line in o["result"][1:]])
            for o in (got, expected)]
    assert np.allclose(rows[0], rows[1], atol=TOLERANCE, equal_nan=True)
    for a, b in zip(got["answers"], expected["answers"], strict=True):
        assert a.keys() == b.keys() and all(abs(a[k] - b[k]) <= TOLERANCE for k in a), (a, b)
    closing = [[e.message for e in o["events"] if e.message.startswith(("Best validation", "Early stopping",
                                                                         "Class weighting"))] for o in (got, expected)]
    assert closing[0] == closing[1] and closing[0]


@pytest.fixture(scope="module")
def one_device(files, tmp_path_factory):
    """The uninterrupted job on one process: what the others must give."""
    return asyncio.run(_run(tmp_path_factory.mktemp("one") / "b", 1, files))


async def test_two_gloo_processes_train_the_job_one_process_trains(files, one_device, tmp_path):
    two = await _run(tmp_path / "two", 2, files)
    _assert_each_event_once(two["events"], STEPS)
    _assert_each_event_once(one_device["events"], STEPS)
    training = [e.message for e in two["events"] if e.message.startswith("Training on ")]
    assert len(training) == 1 and "2 cpu processes" in training[0] and "torch DDP over gloo" in training[0]
    _assert_same_results(two, one_device)


def _serve(data: Path, port: int, log: Path, *extra: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port), "--data-dir", str(data),
                             *extra], cwd=REPO, stdout=subprocess.DEVNULL, stderr=log.open("ab"),
                            env=os.environ | {"PYTHONPATH": str(REPO)} | env)


async def _client(port: int, server: subprocess.Popen) -> openai.AsyncOpenAI:
    client = openai.AsyncOpenAI(api_key="x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=0)
    for _ in range(600):
        assert server.poll() is None, "the server exited"
        try:
            await client.models.list()
            return client
        except openai.APIConnectionError:
            await asyncio.sleep(0.1)
    raise AssertionError("the server did not answer")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:   # a thread can end between the listing and the read (CI saw it): it has no children then
            found += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return found


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text()
    except FileNotFoundError:   # it ended since it was listed
        return ""


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(sys.platform != "linux", reason="reads the device processes from /proc")
async def test_a_two_process_job_killed_mid_training_resumes_and_finishes(files, one_device, tmp_path):
    data, log = tmp_path / "served", tmp_path / "serve.log"
    port = free_port()
    first = _serve(data, port, log, "--devices", "2", "--pace", "0.3")
    try:
        client = await _client(port, first)
        job = await _create(client, files)
        for _ in range(1200):
            if (await client.fine_tuning.jobs.checkpoints.list(job.id)).data:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"no checkpoint: {log.read_text()[-2000:]}")
        ranks = [c for c in _children(first.pid) if "spawn_main" in _cmdline(c)]
        assert len(ranks) == 1                                 # rank 1, a process of its own
        await client.close()
        first.send_signal(signal.SIGKILL)                      # mid-training: no cleanup of any kind
        first.wait(10)
    finally:
        first.kill()
        first.wait()
    deadline = time.monotonic() + 30
    while any(_alive(p) for p in ranks):                       # the orphaned rank leaves on its own
        assert time.monotonic() < deadline, "the device process outlived its server"
        time.sleep(0.1)

    port = free_port()
    # the setting from the environment this time; it claims the job once the dead server's lease (15 s) ends
    second = _serve(data, port, log, STARTUNE_DEVICES="2")
    try:
        client = await _client(port, second)
        resumed = await _outcome(client, job.id)
        await client.close()
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    messages = [e.message for e in resumed["events"]]
    assert any(m.startswith("Job resumed from checkpoint at step ") for m in messages), messages
    _assert_each_event_once(resumed["events"], STEPS)
    _assert_same_results(resumed, one_device)   # killed, resumed on 2 processes: the one-process result


def test_early_stopping_on_rank_0_stops_every_rank_at_the_same_step(files):
    """Rank 0 alone looks at validation; its decision reaches rank 1 at the step it is made. 57 examples in
    batches of 8 end each epoch on a batch of one: rank 1's share is empty there and weighs nothing."""
    from core.backend.transformer import TransformerTrainer
    from core.records.formats import read_examples

    model, train, valid = files
    runs = []
    for devices in (1, 2):
        trainer = TransformerTrainer(f"hf:{model}", list(read_examples(train))[:57], list(read_examples(valid)),
                                     {"n_epochs": 3, "batch_size": 8, "learning_rate_multiplier": 50,
                                      "early_stopping": True}, 7)
        trainer.devices = devices
        trainer.setup(lambda message: None, lambda: None)
        steps = []
        trainer.train(on_step=lambda m, reported, steps=steps: steps.append((m.step, m.train_loss)) or True)
        runs.append((steps, trainer.closing_notes))
    (one, one_notes), (two, two_notes) = runs
    assert one_notes[0].startswith("Early stopping at step 16/24") and two_notes == one_notes
    assert [s for s, _ in two] == [s for s, _ in one] == list(range(1, 17))
    assert np.allclose([v for _, v in two], [v for _, v in one], atol=TOLERANCE)


def _ranks_of_this_process() -> list[int]:
    return [c for c in _children(os.getpid()) if _alive(c) and "spawn_main" in _cmdline(c)]


@pytest.mark.skipif(sys.platform != "linux", reason="reads the device processes from /proc")
async def test_a_cancelled_two_process_job_leaves_no_device_process_behind(files, tmp_path):
    import torch.distributed as dist

    async with EmbeddedBackend(tmp_path / "b", lease=5.0, pace=0.2, devices=2) as backend:
        client = backend.client()
        job = await _create(client, files)
        for _ in range(1200):
            steps = [e for e in await all_events(client, job.id) if e.type == "metrics"]
            if len(steps) >= 2:
                break
            await asyncio.sleep(0.05)
        assert len(_ranks_of_this_process()) == 1
        await client.fine_tuning.jobs.cancel(job.id)
        done = await wait_for(client, job.id, timeout=60)
        assert done.status == "cancelled"
        deadline = time.monotonic() + 30
        while _ranks_of_this_process() or dist.is_initialized():   # the runner ends the group with the job
            assert time.monotonic() < deadline, "a device process or the process group outlived the job"
            await asyncio.sleep(0.1)


async def test_a_devices_setting_this_machine_cannot_meet_fails_the_job_in_one_line(files, tmp_path, monkeypatch):
    monkeypatch.setenv("STARTUNE_DEVICES", "several")
    async with EmbeddedBackend(tmp_path / "b", lease=5.0) as backend:     # no --devices: the environment's
        client = backend.client()
        done = await wait_for(client, (await _create(client, files)).id, timeout=60)
    assert done.status == "failed" and done.error.code == "invalid_devices"
    assert done.error.message == ("STARTUNE_DEVICES 'several': auto (every CUDA device torch sees), or a whole "
                                  "number from 1 to 64")


def test_the_devices_setting_parses_and_counts():
    from core.backend import devices
    from core.errors import ConfigError

    assert [devices.parse(t) for t in (None, "", " 2 ", "AUTO", 3)] == [1, 1, 2, "auto", 3]
    for bad in ("0", "65", "-1", "1.5", "²", True):
        with pytest.raises(ConfigError, match="whole number from 1 to 64"):
            devices.parse(bad)
    assert devices.count("auto", "cuda", 4) == 4 and devices.count("auto", "cpu", 0) == 1
    assert devices.count(2, "cpu", 0) == 2                                  # gloo processes on a CPU
    with pytest.raises(ConfigError, match="torch sees 1 CUDA device"):
        devices.count(2, "cuda", 1)                                         # two ranks on one GPU deadlock
    with pytest.raises(ConfigError, match="an Apple GPU is one device"):
        devices.count(2, "mps", 0)


def test_a_checkpoint_written_on_two_processes_resumes_on_one(files, tmp_path):
    """The checkpoint is the one-device job's (rank 0's weights and AdamW moments): another count of devices
    takes it up and ends as the uninterrupted job does."""
    from core.backend.transformer import TransformerTrainer
    from core.records.formats import read_examples

    model, train, valid = files
    probes = [e.text for e in toy_examples(12, 700)]

    def trainer(devices: int):
        made = TransformerTrainer(f"hf:{model}", list(read_examples(train)), list(read_examples(valid)), HP, 11)
        made.devices = devices
        made.setup(lambda message: None, lambda: None)
        return made

    whole, losses = trainer(1), []
    expected = whole.train(on_step=lambda m, r: losses.append((m.step, m.train_loss)) or True).predict_proba(probes)

    first = trainer(2)
    first.train(on_step=lambda m, r: m.step <= first.steps_per_epoch,
                on_epoch_end=lambda epoch, step, write: write(tmp_path) if epoch == 0 else None)
    second, resumed = trainer(1), []
    final = second.train(start_epoch=1, resume=tmp_path,
                         on_step=lambda m, r: resumed.append((m.step, m.train_loss)) or True)
    later = [x for x in losses if x[0] > first.steps_per_epoch]
    assert [s for s, _ in resumed] == [s for s, _ in later] == list(range(9, STEPS + 1))
    assert np.allclose([v for _, v in resumed], [v for _, v in later], atol=TOLERANCE)
    assert np.allclose(final.predict_proba(probes), expected, atol=TOLERANCE)
