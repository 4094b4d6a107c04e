"""What a launch trains on: a build folder checked against its manifest, a folder of JSONL files, or
the user's own training file. Read by the estimate before a launch and by the launch itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from core.digest import sha256_file
from core.errors import Advice, DataError
from core.records.manifest import BuildManifest


def read_manifest(build_dir: Path) -> BuildManifest:
    path = Path(build_dir) / "manifest.json"
    if not path.is_file():
        raise DataError("no manifest.json: not a build folder", path=build_dir,
                        hint=Advice.BUILD_FIRST)
    try:
        manifest = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DataError(f"manifest.json is not valid JSON ({exc})", path=path) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("splits"), dict):
        raise DataError("manifest.json is not a build's manifest (no splits)", path=path, hint=Advice.BUILD_FIRST)
    return manifest  # type: ignore[return-value]  # JSON, read as the declared shape (core.records.manifest)


def verify_build(build_dir: Path, manifest: BuildManifest) -> None:
    """Refuse a build whose files are not the ones its manifest describes (edited, truncated, swapped):
    the registry would otherwise record options and counts for data that was never trained on."""
    for name, split in (manifest.get("splits") or {}).items():
        path = Path(build_dir) / split.get("file", f"{name}.jsonl")
        expected = split.get("sha256")
        if not expected:
            continue
        if not path.is_file():
            raise DataError("listed in manifest.json but missing", path=path,
                            hint="rebuild with `startune prepare`")
        if sha256_file(path) != expected.removeprefix("sha256:"):
            raise DataError("changed since it was built: its sha256 differs from manifest.json", path=path,
                            hint="rebuild with `startune prepare`, or launch the file itself: startune launch FILE")


@dataclass
class LaunchInput:
    """What a launch uploads: a build folder's files, or the user's own JSONL."""

    train: Path
    valid: Path | None
    manifest: BuildManifest | None   # None for the user's own files
    folder: Path


def launch_input(source: Path, validation: Path | None = None) -> LaunchInput:
    """A build folder (manifest checked against its files), a folder holding train.jsonl [val.jsonl]
    without manifest, or a training JSONL file; ``validation`` overrides the folder's val.jsonl."""
    source = Path(source)
    if validation is not None and not Path(validation).is_file():
        raise DataError("validation file not found", path=validation)
    if source.is_file():
        return LaunchInput(source, Path(validation) if validation else None, None, source.parent)
    if not source.is_dir():
        raise DataError("not found", path=source)
    train = source / "train.jsonl"
    if not train.is_file():
        raise DataError("no train.jsonl in this folder", path=source,
                        hint="give a training JSONL file, or a folder from `startune prepare`")
    manifest = None
    if (source / "manifest.json").is_file():
        manifest = read_manifest(source)
        verify_build(source, manifest)
    valid = Path(validation) if validation else source / "val.jsonl"
    return LaunchInput(train, valid if valid.is_file() else None, manifest, source)
