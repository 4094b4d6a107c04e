"""Uploading a build's files (once per backend) and creating the fine-tuning job."""

from __future__ import annotations

import io
from pathlib import Path

from core.digest import sha256_file
from core.errors import Advice, DataError
from core.jobs.inputs import LaunchInput, read_manifest
from core.jobs.records import as_record
from core.records.manifest import BuildManifest, SplitInfo
from core.launch_options import LaunchOptions, check_for_backend, check_options
from core.progress import ProgressFn, null_progress

MAX_UPLOAD = 512 * 1024 * 1024


class _ProgressReader(io.RawIOBase):
    """The file as the HTTP client streams it, reporting bytes sent; seekable, so a retried request
    re-sends the file from its start."""

    def __init__(self, fh, size: int, stage: str, progress: ProgressFn) -> None:
        self.fh, self.size, self.stage, self.progress = fh, size, stage, progress

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def readinto(self, buffer) -> int:
        data = self.fh.read(len(buffer))
        buffer[: len(data)] = data
        self.progress(self.stage, self.fh.tell(), self.size)
        return len(data)


async def upload(client, path: Path, *, registry, backend: str, progress: ProgressFn = null_progress,
                 created_ids: list[str] | None = None) -> str:
    """The file id of ``path`` on this backend: reused when the same bytes are already there.
    ``created_ids`` collects the ids of files this call really uploaded (not reused ones)."""
    import openai

    size = path.stat().st_size
    if size > MAX_UPLOAD:
        raise DataError(f"file is {size / 2**20:,.0f} MB; uploads are limited to 512 MB", path=path,
                        hint=Advice.SAMPLE_FEWER)
    sha = sha256_file(path)
    for file_id in registry.find_uploads(backend, sha):
        try:
            existing = await client.files.retrieve(file_id)
        except openai.NotFoundError:
            registry.forget_upload(backend, file_id)
            continue
        if existing.bytes == size:
            progress(f"upload {path.name}", size, size)
            return file_id
    stage = f"upload {path.name}"
    progress(stage, 0, size)
    with path.open("rb") as fh:
        created = await client.files.create(file=(path.name, _ProgressReader(fh, size, stage, progress)),
                                            purpose="fine-tune")
    progress(stage, size, size)
    registry.add_upload(backend, sha, created.id, path.name, size)
    if created_ids is not None:
        created_ids.append(created.id)
    return created.id


async def delete_uploads(client, file_ids: list[str], *, registry, backend: str) -> list[str]:
    """Delete files from the backend (and forget them); returns the ids deleted. A file already gone
    counts as deleted: the point is that nothing is left behind."""
    import openai

    deleted = []
    for file_id in file_ids:
        try:
            await client.files.delete(file_id)
        except openai.NotFoundError:
            pass
        registry.forget_upload(backend, file_id)
        deleted.append(file_id)
    return deleted


def _user_manifest(inp: LaunchInput, n_train: int, n_valid: int | None) -> BuildManifest:
    """A minimal manifest for the user's own files, so the registry records what was launched."""
    splits: dict[str, SplitInfo] = {"train": {"file": str(inp.train), "examples": n_train, "sha256": sha256_file(inp.train)}}
    if inp.valid is not None:
        splits["val"] = {"file": str(inp.valid), "examples": n_valid or 0, "sha256": sha256_file(inp.valid)}
    return {"input": {"source": str(inp.train), "format": "jsonl"}, "user_files": True, "splits": splits}


async def _refused(client, error, uploaded: list[str], used: list[str], options: LaunchOptions, *, registry, backend: str):
    """The 403's error, saying what became of the files this launch uploaded (deleted with cleanup)."""
    from core.jobs.errors import TrainingNotAvailable

    if options.cleanup:
        # files reused from an earlier refused launch count too, unless a run trained on them
        referenced = {(r["job"] or {}).get(k) for r in registry.list_runs() if r["backend"] == backend
                      for k in ("training_file", "validation_file")}
        deleted = await delete_uploads(client, [f for f in used if f and f not in referenced], registry=registry,
                                       backend=backend)
        if not deleted:
            return error
        return TrainingNotAvailable(f"{error.message}. Deleted the {len(deleted)} file(s) this launch uploaded "
                                    f"({', '.join(deleted)})", status=error.status, code=error.code)
    if not uploaded:
        return error
    return TrainingNotAvailable(f"{error.message}. This launch uploaded {', '.join(uploaded)}, which stay on "
                                f"the backend", hint="rerun with --cleanup to delete them", uploaded=uploaded,
                                status=error.status, code=error.code)


def recent_builds(registry, folder: Path | None = None) -> list[dict]:
    """Builds the user can launch, newest first, each once: the registry's, then any other build
    folder under ``folder`` (default: runs_dir()/builds). Each: path, created_at, manifest."""
    from core.paths import runs_dir

    found: dict[str, dict] = {}
    for build in registry.list_builds():
        path = Path(build["out_dir"])
        if str(path) not in found and (path / "manifest.json").is_file() and (path / "train.jsonl").is_file():
            found[str(path)] = {"path": path, "created_at": build["created_at"], "manifest": build["manifest"]}
    folder = runs_dir() / "builds" if folder is None else folder
    if folder.is_dir():
        for manifest_path in folder.glob("*/manifest.json"):
            path = manifest_path.parent
            if str(path) not in found and (path / "train.jsonl").is_file():
                try:
                    manifest = read_manifest(path)
                except DataError:   # not JSON, or not a manifest: not a build to offer
                    continue
                found[str(path)] = {"path": path, "created_at": manifest_path.stat().st_mtime, "manifest": manifest}
    return sorted(found.values(), key=lambda b: b["created_at"], reverse=True)


def build_of(builds: list[dict], dataset) -> dict | None:
    """The newest of ``builds`` made from ``dataset`` (a LoadedDataset: same fingerprint, else same source),
    or None: a launch must never default to another dataset's build."""
    if dataset is None:
        return None
    for build in builds:  # newest first
        source = (build.get("manifest") or {}).get("input") or {}
        if source.get("fingerprint") == dataset.fingerprint or (
                not source.get("fingerprint") and source.get("source") == dataset.source):
            return build
    return None


async def launch(client, build_dir: Path, options: LaunchOptions, *, choice, registry,
                 progress: ProgressFn = null_progress, on_estimate=None,
                 validation_file: Path | None = None, estimate=None) -> tuple[str, dict]:
    """Check, validate, price, upload and create the job; returns (run id, job as a dict).
    ``build_dir`` is a build folder, a folder with train.jsonl, or a training JSONL file.
    ``on_estimate(estimate)`` hears the core.jobs.estimate.LaunchEstimate (its describe() is the cost
    line) before anything is uploaded or created. ``estimate``: the one the user just confirmed for this
    source and model (the app's Launch screen), not made again: a transformer's or an LLM's includes a
    calibration run of its training steps."""
    import asyncio

    from core.errors import StartuneError
    from core.jobs.backends import check_model
    from core.jobs.errors import TrainingNotAvailable, explain
    from core.jobs.estimate import estimate_launch, launch_model

    check_options(options)
    check_for_backend(options, choice)
    model = await launch_model(client, choice, options)
    check_model(choice, model)
    if estimate is None or estimate.model != model or estimate.source != Path(build_dir):
        # in a thread: the checks read the whole file and a calibration trains, and the caller's event loop
        # (the app's, or the in-process backend's) must keep running meanwhile
        estimate = await asyncio.to_thread(estimate_launch, Path(build_dir), options, model,
                                           validation_file=validation_file, progress=progress)
    inp = estimate.input
    build_dir, train = inp.folder, inp.train
    valid = inp.valid if options.validation else None
    manifest = inp.manifest or _user_manifest(inp, estimate.n_examples, estimate.n_valid)
    cost = estimate.cost
    if on_estimate is not None:
        on_estimate(estimate)
    estimate.check_budget(options.max_cost)
    build_id = registry.add_build(build_dir, manifest)
    manifest_sha = registry.build(build_id)["manifest_sha"]
    uploaded: list[str] = []
    train_id: str | None = None
    valid_id: str | None = None
    try:
        train_id = await upload(client, train, registry=registry, backend=choice.key, progress=progress,
                                created_ids=uploaded)
        if valid is not None and valid.stat().st_size:
            valid_id = await upload(client, valid, registry=registry, backend=choice.key, progress=progress,
                                    created_ids=uploaded)
        metadata = {"startune_manifest": manifest_sha[:16], **options.metadata}
        kwargs = dict(model=model, training_file=train_id, suffix=options.suffix, metadata=metadata,
                      method={"type": "supervised", "supervised": {"hyperparameters": options.hyperparameters()}})
        if valid_id:
            kwargs["validation_file"] = valid_id
        if options.seed is not None:
            kwargs["seed"] = options.seed
        if options.integrations:
            kwargs["integrations"] = options.integrations
        if options.training_type:
            kwargs["extra_body"] = {"trainingType": options.training_type}
        job = await client.fine_tuning.jobs.create(**{k: v for k, v in kwargs.items() if v is not None})
    except StartuneError:
        raise
    except Exception as exc:
        import openai

        if isinstance(exc, openai.OpenAIError):
            error = explain(exc, choice.describe())
            if isinstance(error, TrainingNotAvailable):
                raise await _refused(client, error, uploaded, [i for i in (train_id, valid_id) if i], options,
                                     registry=registry, backend=choice.key) from None
            raise error from None
        raise
    job_dict = as_record(job)
    config = {
        "backend": choice.key, "model": model, "hyperparameters": options.hyperparameters(),
        "suffix": options.suffix, "seed": options.seed, "build_id": build_id, "manifest_sha": manifest_sha,
        "prepare": manifest.get("options", {}), "examples": {k: v["examples"] for k, v in manifest["splits"].items()},
        "estimated_cost": cost.to_dict(),
    }
    if options.training_type:
        config["training_type"] = options.training_type
    run_id = registry.add_run(backend=choice.key, job=job_dict, name=options.name or options.suffix,
                              dataset=manifest.get("input", {}).get("source"), build_dir=str(build_dir),
                              config=config, cost_usd=cost.usd)
    return run_id, job_dict
