"""Building the fine-tuning JSONL, the one road for `startune prepare`, `startune run` and the app's Build
screen: which engine builds it, whether an identical build can be reused, the validation as written, and
the build's place in the registry (the Launch screen and `rerun` find it there)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import ConfigError
from core.records.manifest import BuildManifest
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    from core.data.pipeline import BuildResult


@dataclass
class Build:
    out_dir: Path
    manifest: BuildManifest
    engine: str                           # "memory" or "duckdb"; "reused" for an identical earlier build
    result: BuildResult | None = None     # of a fresh build
    validation: dict = field(default_factory=dict)   # split -> ValidationReport, as written

    @property
    def reused(self) -> bool:
        return self.result is None


def source_path(source) -> Path | None:
    """The local file a dataset comes from (a path, or a dataset the app has loaded), else None."""
    from core.data.load import LoadedDataset

    text = source.source if isinstance(source, LoadedDataset) else str(source)
    path = Path(text).expanduser()
    return path if path.is_file() else None


def build(source, out_dir: Path, options, *, engine: str = "auto", model: str | None = None,
          count_tokens: bool = True, corrections=None, registry=None,
          progress: ProgressFn = null_progress) -> Build:
    """Build ``source`` (a dataset file, or one the app has loaded) into ``out_dir``, validated as written.

    ``engine`` "auto" takes DuckDB for a local file over an eighth of RAM (core.data.outofcore.choose_engine),
    whichever front end asks; a dataset already loaded in memory is built from memory unless the file is that
    large. The build is registered when ``registry`` is given."""
    from core.data.outofcore import choose_engine
    from core.validation.validate import drop_default_system_warning

    from core.data.pipeline import WriteChecks

    checks = WriteChecks(validate=True, model=model, count_tokens=count_tokens)
    path = source_path(source)
    chosen = choose_engine(engine, path) if path is not None else ("memory" if engine == "auto" else engine)
    if chosen == "duckdb":
        if corrections is not None:
            raise ConfigError("--corrections: the duckdb engine does not apply corrections yet",
                              hint="use --engine memory")
        if path is None:
            raise ConfigError("the duckdb engine reads local files only", hint="use --engine memory")
        from core.data.outofcore import prepare_duckdb

        result = prepare_duckdb(path, out_dir, options, progress=progress, checks=checks)
    else:
        from core.data.pipeline import prepare

        result = prepare(source, out_dir, options, progress=progress, checks=checks, corrections=corrections)
    for report in result.validation.values():
        drop_default_system_warning(report, options.system_prompt)
    if registry is not None:
        registry.add_build(result.out_dir, result.manifest)
    return Build(result.out_dir, result.manifest, chosen, result, result.validation)


def reuse_or_build(source, out_dir: Path | None, options, *, default_dir: Path, registry=None,
                   **kw) -> Build:
    """An identical earlier build (same bytes, same options, files unchanged) when no folder is named, else
    a new one in ``out_dir`` or ``default_dir``."""
    if out_dir is None:
        path = source_path(source)
        reused = find_identical_build(path, options) if path is not None else None
        if reused is not None:
            from core.jobs.inputs import read_manifest

            return Build(reused, read_manifest(reused), "reused")
    return build(source, out_dir or default_dir, options, registry=registry, **kw)


def find_identical_build(dataset, options) -> Path | None:
    """A build under startune's runs folder made from the same bytes with the same options, whose
    files still match its manifest: a rerun (say after Ctrl-C) reuses it instead of building again."""
    import orjson

    from core.errors import StartuneError
    from core.jobs.inputs import read_manifest, verify_build
    from core.paths import runs_dir

    path = Path(dataset).expanduser()
    builds = runs_dir() / "builds"
    if not path.is_file() or not builds.is_dir():
        return None
    from core.data.load import file_fingerprint

    wanted = orjson.loads(orjson.dumps(options.to_dict()))
    fingerprint = None
    for manifest_path in sorted(builds.glob("*/manifest.json"), reverse=True):  # newest first
        try:
            manifest = read_manifest(manifest_path.parent)
        except StartuneError:   # not JSON, or not a manifest: not a build to reuse
            continue
        if manifest.get("options") != wanted:
            continue
        fingerprint = fingerprint or file_fingerprint(path)
        if (manifest.get("input") or {}).get("fingerprint") != fingerprint:
            continue
        try:
            verify_build(manifest_path.parent, manifest)
        except StartuneError:
            continue
        return manifest_path.parent
    return None
