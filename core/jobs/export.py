"""Keeping the evidence of a run in plain files, so it can be compared after its model is retired:
the build manifest, the run and its job, every event, the result CSV, each evaluation and its answers."""

from __future__ import annotations

from typing import Any

from pathlib import Path

import orjson

from core.errors import ConfigError


def _jsonl(rows) -> bytes:
    return b"".join(orjson.dumps(r, option=orjson.OPT_NON_STR_KEYS) + b"\n" for r in rows)


def _pretty(obj) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n"


def _examples(data: str, data_sha: str):
    """The evaluated examples, when the data file is still there with the same bytes; else None."""
    from core.digest import sha256_file
    from core.records.formats import read_examples

    path = Path(data)
    if not path.is_file() or sha256_file(path) != data_sha:
        return None
    return list(read_examples(path))


def export_run(registry, ref: str, out_dir: Path) -> dict:
    """Write run ``ref``'s evidence into ``out_dir`` (each file atomically); returns what was written.

    answers/<evaluation id>.jsonl holds one line per example: index, the expected label and the text
    (when the evaluated file is still there, unchanged), the model's answer, parsed label, label
    probabilities."""
    import shutil

    from core.atomic import atomic_open, write_bytes
    from core.registry.db import eval_key_of

    run = registry.find_run(ref)
    if run is None:
        raise ConfigError(f"no run {ref!r} in the registry")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Any] = {"run_id": run["id"], "out": str(out), "files": []}

    def put(name: str, data: bytes) -> None:
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        write_bytes(out / name, data, private=False)  # the user's --out folder
        written["files"].append(name)

    config = run.get("config") or {}
    build = registry.build(config["build_id"]) if config.get("build_id") else None
    links = {"rerun_of": run.get("rerun_of"), "reruns": [r["id"] for r in registry.reruns_of(run["id"])]}
    put("run.json", _pretty(run | links))
    if build is not None:
        put("manifest.json", _pretty(build["manifest"]))
    events = registry.events(run["backend"], run["job_id"])
    put("events.jsonl", _jsonl(events))
    results = run.get("results_csv")
    if results and Path(results).is_file():
        with Path(results).open("rb") as src, atomic_open(out / "results.csv", "wb", private=False) as dst:
            shutil.copyfileobj(src, dst)
        written["files"].append("results.csv")
    else:
        written["missing"] = ["results.csv (not downloaded: `startune results RUN` before the model is gone)"]
    evaluations = registry.evaluations(run_id=run["id"])
    put("evaluations.json", _pretty(evaluations))
    for evaluation in evaluations:
        key = eval_key_of(evaluation["model"], evaluation["data_sha"], evaluation["options"])
        answers = registry.answers(key)
        examples = _examples(evaluation["data"], evaluation["data_sha"])
        rows = []
        for idx in sorted(answers):
            row = {"index": idx}
            if examples is not None and idx < len(examples):
                row |= {"expected": examples[idx].label, "text": examples[idx].text}
            rows.append(row | answers[idx])
        put(f"answers/{evaluation['id']}.jsonl", _jsonl(rows))
    model = _export_model(run, out)
    written["files"].extend(model["files"])
    written.setdefault("missing", []).extend(model["missing"])
    if not written["missing"]:
        del written["missing"]
    written["events"], written["evaluations"] = len(events), len(evaluations)
    return written


def _export_model(run: dict, out: Path) -> dict:
    """The fine-tuned model's own files under model/ when the local backend of this machine trained it;
    for a generative (LoRA) model also merged/: the base with the adapter folded in, a plain Hugging Face
    folder (config, safetensors, tokenizer with its chat template) that transformers, vLLM or llama.cpp's
    converter read without peft or startune."""
    import shutil

    from core.atomic import write_bytes

    done: dict[str, list[str]] = {"files": [], "missing": []}
    name = run.get("fine_tuned_model")
    if not name:
        return done
    from core.jobs.backends import backend_of

    backend = backend_of(run.get("backend"))
    if backend is None or not backend.trains_here:
        done["missing"].append(f"model/ ({name} lives on {run.get('backend')}, not in this machine's local backend)")
        return done
    from core.backend.store import Store
    from core.paths import local_backend_dir

    store = Store(local_backend_dir())
    try:
        found = store.get_model(name)
    finally:
        store.close()
    if found is None or not Path(found[1]).is_dir():
        done["missing"].append(f"model/ ({name} is not in the local backend any more)")
        return done
    source = Path(found[1])
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        relative = path.relative_to(source)
        if relative.parts[0] == "trainer_state":   # optimiser moments for resuming, not part of the model
            continue
        target = out / "model" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, path.read_bytes())
        done["files"].append(f"model/{relative.as_posix()}")
    from core.backend.model_files import read_manifest

    if read_manifest(source).get("kind") == "llm":
        from core.backend.llm import merged_folder

        merged = out / "merged"
        staging = out / ".merged.tmp"
        shutil.rmtree(staging, ignore_errors=True)
        merged_folder(source, staging)
        shutil.rmtree(merged, ignore_errors=True)
        staging.rename(merged)
        done["files"].extend(f"merged/{p.relative_to(merged).as_posix()}" for p in sorted(merged.rglob("*"))
                             if p.is_file())
    return done
