"""A run in the experiment trackers teams already read: MLflow (a local file store or the user's
tracking URI) and TensorBoard (event files). Both get the same content: the run's parameters, every
reported step of the result CSV, the latest evaluation on the test split, and the result CSV and
build manifest as artifacts. Each tracker is an optional extra; a missing one is one line naming it."""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.errors import ConfigError

TRACKERS = ("mlflow", "tensorboard")
_NEEDS = {"mlflow": ("mlflow", "pip install 'startune[mlflow]' (mlflow-skinny)"),
          "tensorboard": ("tensorboard", "pip install 'startune[tensorboard]'")}
EXPERIMENT = "startune"


@dataclass
class RunRecord:
    """What every tracker is given, read once from the registry."""
    run_id: str
    params: dict[str, str]
    steps: dict[str, list[tuple[int, float]]]       # metric -> (step, value)
    evaluation: dict[str, float]
    artifacts: dict[str, bytes] = field(default_factory=dict)


def require(tracker: str) -> None:
    module, hint = _NEEDS[tracker]
    if importlib.util.find_spec(module) is None:
        raise ConfigError(f"exporting to {tracker} needs {module}, which is not installed: {hint}")


def _flat(prefix: str, obj, out: dict) -> None:
    if isinstance(obj, dict):
        for key, value in obj.items():
            _flat(f"{prefix}.{key}" if prefix else str(key), value, out)
    elif obj is not None and not isinstance(obj, (list, tuple)):
        out[prefix] = obj


def read_run(registry, ref: str) -> RunRecord:
    from core.jobs.results import parse_result_csv

    run = registry.find_run(ref)
    if run is None:
        raise ConfigError(f"no run {ref!r} in the registry")
    params: dict = {}
    _flat("", {k: v for k, v in (run.get("config") or {}).items() if k not in ("hyperparameters",)}, params)
    _flat("", (run.get("config") or {}).get("hyperparameters") or {}, params)
    for key in ("backend", "job_id", "fine_tuned_model", "rerun_of"):
        if run.get(key):
            params[key] = run[key]
    steps: dict[str, list[tuple[int, float]]] = {}
    artifacts: dict[str, bytes] = {}
    results = run.get("results_csv")
    if not results or not Path(results).is_file():
        raise ConfigError(f"run {run['id']} has no result CSV yet: `startune results {run['id']}` downloads it")
    text = Path(results).read_text(encoding="utf-8")
    artifacts["results.csv"] = text.encode()
    table = parse_result_csv(text)
    for name in table.columns:
        if name == "step":
            continue
        xs, ys = table.column(name)
        if ys:
            steps[name] = [(int(x), float(y)) for x, y in zip(xs, ys)]
    config = run.get("config") or {}
    build = registry.build(config["build_id"]) if config.get("build_id") else None
    if build is not None:
        artifacts["manifest.json"] = orjson.dumps(build["manifest"], option=orjson.OPT_INDENT_2)
    evaluations = registry.evaluations(run_id=run["id"])  # newest first
    evaluation: dict[str, float] = {}
    if evaluations:
        flat: dict = {}
        _flat("", evaluations[0]["report"], flat)
        evaluation = {f"eval/{k}": float(v) for k, v in flat.items()
                      if isinstance(v, (int, float)) and not isinstance(v, bool)}
        artifacts["evaluation.json"] = orjson.dumps(evaluations[0], option=orjson.OPT_INDENT_2)
    return RunRecord(run["id"], {k: str(v)[:500] for k, v in params.items()}, steps, evaluation, artifacts)


def _tracking_uri(dest: str) -> str:
    import os

    if "://" in dest or dest.startswith(("databricks", "sqlite:")):
        uri = dest
    else:
        path = Path(dest).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        uri = path.as_uri()
    if uri.startswith("file:"):
        # MLflow 3 keeps the file store in maintenance mode behind this switch; it is still the one
        # store mlflow-skinny reads and writes without a database.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def to_mlflow(record: RunRecord, dest: str) -> dict:
    """One MLflow run in experiment "startune", tagged with the startune run id; exporting the same
    run again updates nothing and says where it already is."""
    require("mlflow")
    from mlflow.entities import Metric, Param
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    uri = _tracking_uri(dest)
    try:
        return _send_mlflow(MlflowClient(tracking_uri=uri), uri, record, Metric, Param)
    except MlflowException as exc:
        first = str(exc.message).strip().splitlines()[0] if str(exc.message).strip() else type(exc).__name__
        raise ConfigError(f"MLflow at {uri}: {first}") from None


def _send_mlflow(client, uri: str, record: RunRecord, Metric, Param) -> dict:
    experiment = client.get_experiment_by_name(EXPERIMENT)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(EXPERIMENT)
    found = client.search_runs([experiment_id], f"tags.`startune.run_id` = '{record.run_id}'")
    if found:
        return {"tracker": "mlflow", "uri": uri, "run_id": record.run_id, "mlflow_run_id": found[0].info.run_id,
                "already": True}
    mlrun = client.create_run(experiment_id, run_name=record.run_id, tags={"startune.run_id": record.run_id})
    rid = mlrun.info.run_id
    try:
        metrics = [Metric(name, value, 0, step) for name, points in record.steps.items() for step, value in points]
        last = max((s for points in record.steps.values() for s, _ in points), default=0)
        metrics += [Metric(name, value, 0, last) for name, value in record.evaluation.items()]
        params = [Param(k, v) for k, v in record.params.items()]
        for i in range(0, len(params), 100):  # MLflow's limits per call: 100 params, 1000 metrics
            client.log_batch(rid, params=params[i:i + 100])
        for i in range(0, len(metrics), 1000):
            client.log_batch(rid, metrics=metrics[i:i + 1000])
        with tempfile.TemporaryDirectory() as tmp:
            for name, data in record.artifacts.items():
                (Path(tmp) / name).write_bytes(data)
                client.log_artifact(rid, str(Path(tmp) / name))
        client.set_terminated(rid, "FINISHED")
    except BaseException:
        client.set_terminated(rid, "FAILED")
        raise
    return {"tracker": "mlflow", "uri": uri, "run_id": record.run_id, "mlflow_run_id": rid, "already": False,
            "metrics": sorted(set(record.steps) | set(record.evaluation)), "artifacts": sorted(record.artifacts)}


def to_tensorboard(record: RunRecord, dest: str) -> dict:
    """Event files under DEST/<run id>/ (TensorBoard's one folder per run), the parameters as a text
    summary, the artifacts beside them."""
    require("tensorboard")
    import time

    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    from core.atomic import write_bytes

    logdir = Path(dest).expanduser() / record.run_id
    if logdir.is_dir() and any(logdir.glob("events.out.tfevents.*")):
        raise ConfigError(f"{logdir} already holds this run's events; remove it to export again")
    logdir.mkdir(parents=True, exist_ok=True)
    writer = EventFileWriter(str(logdir))
    now = time.time()
    try:
        for name, points in record.steps.items():
            for step, value in points:
                writer.add_event(Event(wall_time=now, step=step, summary=Summary(
                    value=[Summary.Value(tag=name, simple_value=value)])))
        last = max((s for points in record.steps.values() for s, _ in points), default=0)
        for name, value in record.evaluation.items():
            writer.add_event(Event(wall_time=now, step=last, summary=Summary(
                value=[Summary.Value(tag=name, simple_value=value)])))
        table = "| param | value |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in sorted(record.params.items()))
        text = TensorProto(dtype=7, string_val=[table.encode()], tensor_shape=TensorShapeProto(
            dim=[TensorShapeProto.Dim(size=1)]))  # dtype 7: DT_STRING
        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
        writer.add_event(Event(wall_time=now, step=0, summary=Summary(
            value=[Summary.Value(tag="params", tensor=text, metadata=meta)])))
    finally:
        writer.close()
    for name, data in record.artifacts.items():
        write_bytes(logdir / name, data, private=False)
    return {"tracker": "tensorboard", "logdir": str(logdir), "run_id": record.run_id,
            "metrics": sorted(set(record.steps) | set(record.evaluation)), "artifacts": sorted(record.artifacts)}


def export_to(registry, ref: str, tracker: str, dest: str) -> dict:
    if tracker not in TRACKERS:
        raise ConfigError(f"unknown tracker {tracker!r}: choose {' or '.join(TRACKERS)}")
    require(tracker)
    record = read_run(registry, ref)
    return to_mlflow(record, dest) if tracker == "mlflow" else to_tensorboard(record, dest)
