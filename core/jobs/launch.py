"""Uploading a build's files (once per backend) and creating the fine-tuning job."""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from core.errors import ConfigError, DataError
from core.progress import ProgressFn, null_progress

MAX_UPLOAD = 512 * 1024 * 1024


@dataclass
class LaunchOptions:
    model: str | None = None
    n_epochs: int | str = "auto"
    batch_size: int | str = "auto"
    learning_rate_multiplier: float | str = "auto"
    suffix: str | None = None
    seed: int | None = None
    validation: bool = True
    max_cost: float | None = None
    name: str | None = None
    integrations: list | None = None           # passed through, e.g. [{"type": "wandb", "wandb": {...}}]
    metadata: dict[str, str] = field(default_factory=dict)

    def hyperparameters(self) -> dict:
        return {"n_epochs": self.n_epochs, "batch_size": self.batch_size,
                "learning_rate_multiplier": self.learning_rate_multiplier}


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


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


async def upload(client, path: Path, *, registry, backend: str, progress: ProgressFn = null_progress) -> str:
    """The file id of ``path`` on this backend: reused when the same bytes are already there."""
    import openai

    size = path.stat().st_size
    if size > MAX_UPLOAD:
        raise DataError(f"file is {size / 2**20:,.0f} MB; uploads are limited to 512 MB", path=path,
                        hint="sample fewer examples (--samples)")
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
    return created.id


def read_manifest(build_dir: Path) -> dict:
    path = Path(build_dir) / "manifest.json"
    if not path.is_file():
        raise DataError("no manifest.json: not a build folder", path=build_dir,
                        hint="create one with `startune prepare DATASET --out DIR`")
    return orjson.loads(path.read_bytes())


def training_files(source: Path) -> tuple[Path, Path | None, dict]:
    """(train file, validation file or None, manifest) of a build folder, or of one JSONL file of the
    user's own (no validation file; a manifest naming only the file)."""
    source = Path(source)
    if source.is_file() and source.suffix == ".jsonl":
        return source, None, {"input": {"source": str(source)}, "splits": {}}
    manifest = read_manifest(source)
    valid = source / "val.jsonl"
    return source / "train.jsonl", valid if valid.is_file() and valid.stat().st_size else None, manifest


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
                    manifest = orjson.loads(manifest_path.read_bytes())
                except orjson.JSONDecodeError:
                    continue
                found[str(path)] = {"path": path, "created_at": manifest_path.stat().st_mtime, "manifest": manifest}
    return sorted(found.values(), key=lambda b: b["created_at"], reverse=True)


async def launch(client, build_dir: Path, options: LaunchOptions, *, choice, registry,
                 progress: ProgressFn = null_progress, on_estimate=None) -> tuple[str, dict]:
    """Validate, price, upload and create the job; returns (run id, job as a dict).
    ``on_estimate(cost)`` hears the cost estimate before anything is uploaded or created."""
    from core.errors import StartuneError
    from core.jobs.errors import explain
    from core.validation.validate import validate_file

    build_dir = Path(build_dir)
    train, valid, manifest = training_files(build_dir)
    from core.jobs.backends import default_model

    model = options.model or await default_model(client, choice)
    epochs = options.n_epochs if isinstance(options.n_epochs, int) else None
    report = validate_file(train, model, progress=progress, n_epochs=epochs)
    if not report.ok:
        first = report.first_error()
        raise DataError(f"training file has format errors, first: {first}", path=train,
                        hint="run `startune validate` on it")
    cost = report.cost
    if on_estimate is not None:
        on_estimate(cost)
    if options.max_cost is not None and cost.usd is not None and cost.usd > options.max_cost:
        raise ConfigError(f"estimated cost ${cost.usd:,.2f} is above --max-cost ${options.max_cost:,.2f}",
                          hint=cost.describe())
    build_id = registry.add_build(build_dir, manifest)
    manifest_sha = registry.build(build_id)["manifest_sha"]
    try:
        train_id = await upload(client, train, registry=registry, backend=choice.key, progress=progress)
        valid_id = None
        if options.validation and valid is not None:
            valid_id = await upload(client, valid, registry=registry, backend=choice.key, progress=progress)
        metadata = {"startune_manifest": manifest_sha[:16], **options.metadata}
        kwargs = dict(model=model, training_file=train_id, suffix=options.suffix, metadata=metadata,
                      method={"type": "supervised", "supervised": {"hyperparameters": options.hyperparameters()}})
        if valid_id:
            kwargs["validation_file"] = valid_id
        if options.seed is not None:
            kwargs["seed"] = options.seed
        if options.integrations:
            kwargs["integrations"] = options.integrations
        job = await client.fine_tuning.jobs.create(**{k: v for k, v in kwargs.items() if v is not None})
    except StartuneError:
        raise
    except Exception as exc:
        import openai

        if isinstance(exc, openai.OpenAIError):
            raise explain(exc, choice.describe()) from None
        raise
    job_dict = job.model_dump(mode="json", exclude_unset=True)
    config = {
        "backend": choice.key, "model": model, "hyperparameters": options.hyperparameters(),
        "suffix": options.suffix, "seed": options.seed, "build_id": build_id, "manifest_sha": manifest_sha,
        "prepare": manifest.get("options", {}), "examples": {k: v["examples"] for k, v in manifest["splits"].items()},
        "estimated_cost": cost.to_dict(),
    }
    run_id = registry.add_run(backend=choice.key, job=job_dict, name=options.name or options.suffix,
                              dataset=manifest.get("input", {}).get("source"), build_dir=str(build_dir),
                              config=config, cost_usd=cost.usd)
    return run_id, job_dict
