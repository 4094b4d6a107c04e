"""The whole preparation: load -> clean -> split -> sample -> order -> format -> write, plus manifest."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from core.data.clean import CONFLICT_POLICIES, CleanReport, ConflictPolicy, clean
from core.data.formats import COMPLETION_FORMAT_NOTE, DEFAULT_SEPARATOR, FORMATS
from core.data.labels import LabelSet
from core.data.load import LoadedDataset, load_dataset
from core.data.sample import ORDERS, Balance, Order, order_split, sample_split
from core.data.split import SPLITS, check_fractions, rng_for, split_by_column, split_frame
from core.data.write import manifest_bytes, write_file, write_jsonl
from core.errors import ConfigError, DataError
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_SEED = 42
MANIFEST = "manifest.json"


@dataclass
class PrepareOptions:
    text_column: str | None = None
    label_column: str | None = None
    labels: LabelSet = field(default_factory=LabelSet)
    dedup: bool = True
    conflict_policy: ConflictPolicy = "keep_first"
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = DEFAULT_SEED
    stratify: bool = False
    split_column: str | None = None
    samples: dict[str, int] | None = None        # per split; a missing split keeps all its rows
    balance: Balance = None                       # None, "equal" or a per-label cap
    order: Order = "shuffled"
    format: Literal["chat", "completion"] = "chat"
    system_prompt: str | None = None
    separator: str = DEFAULT_SEPARATOR
    stop: str | None = None

    def check(self) -> None:
        if self.conflict_policy not in CONFLICT_POLICIES:
            raise ConfigError(f"unknown conflict policy {self.conflict_policy!r}: use {', '.join(CONFLICT_POLICIES)}")
        if self.order not in ORDERS:
            raise ConfigError(f"unknown order {self.order!r}: use shuffled or sorted")
        if self.format not in FORMATS:
            raise ConfigError(f"unknown format {self.format!r}: use chat or completion")
        if self.format == "completion" and not self.separator:
            raise ConfigError("the completion format needs a non-empty separator")
        check_fractions(self.fractions)
        for split, n in (self.samples or {}).items():
            if split not in SPLITS:
                raise ConfigError(f"unknown split {split!r} in samples: use train, val or test")
            if n < 0:
                raise ConfigError(f"sample size for {split} must not be negative")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["labels"] = list(self.labels.values)
        d["fractions"] = list(self.fractions)
        return d


@dataclass
class BuildResult:
    out_dir: Path
    files: dict[str, Path]
    manifest: dict
    clean_report: CleanReport
    splits: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST


def build_splits(
    ds: LoadedDataset, options: PrepareOptions, progress: ProgressFn = null_progress
) -> tuple[dict[str, pd.DataFrame], CleanReport, int]:
    """Everything but the writing: (ordered splits with text/label/row, cleaning report, leaked rows)."""
    options.check()
    progress("clean", 0, 4)
    cleaned, report = clean(
        ds.frame, ds.text_column, ds.label_column, options.labels,
        dedup=options.dedup, conflict_policy=options.conflict_policy,
    )
    non_empty = report.rows_in - report.empty_text
    invalid = sum(report.invalid_labels.values())
    if non_empty and invalid / non_empty > 0.5:
        row, value = _first_bad_label(ds, options.labels)
        raise DataError(
            f"column holds text, not labels in {{{','.join(options.labels.values)}}}: "
            f"{invalid:,} of {non_empty:,} rows are invalid, first at row {row}: {value!r}",
            path=ds.source, column=ds.label_column,
            hint="choose another --label-column or give --labels",
        )
    if report.rows_out == 0:
        raise DataError(
            f"no usable rows left after cleaning ({report.rows_in:,} read, {report.empty_text:,} with empty text)",
            path=ds.source, column=ds.text_column,
        )
    progress("split", 1, 4)
    split_column = options.split_column or ds.split_column
    leaked = 0
    if split_column:
        values = ds.frame[split_column].iloc[cleaned["row"].to_numpy() - 1].reset_index(drop=True)
        splits, leaked = split_by_column(cleaned, values, split_column)
    else:
        splits = split_frame(cleaned, options.fractions, options.seed, stratify=options.stratify)
    progress("sample", 2, 4)
    samples = options.samples or {}
    for i, name in enumerate(SPLITS):
        part = sample_split(splits[name], samples.get(name), options.balance, rng_for(options.seed, 2, i))
        splits[name] = order_split(part, options.order, options.labels, rng_for(options.seed, 3, i))
    progress("order", 3, 4)
    return splits, report, leaked


def preview(ds: LoadedDataset, options: PrepareOptions, n: int = 5) -> tuple[list[str], dict[str, dict[str, int]], CleanReport]:
    """The first n train records exactly as they will be written, the label counts per split, and
    the cleaning report, without writing anything (the TUI's live preview)."""
    from core.data.write import jsonl_bytes

    splits, report, _ = build_splits(ds, options)
    head = splits["train"].head(n)
    lines = jsonl_bytes(head, options.format, system_prompt=options.system_prompt, separator=options.separator,
                        stop=options.stop).decode("utf-8").splitlines()
    counts = {name: {v: int(c) for v, c in frame["label"].value_counts().reindex(
        list(options.labels.values), fill_value=0).items()} for name, frame in splits.items()}
    return lines, counts, report


def _first_bad_label(ds: LoadedDataset, labels: LabelSet) -> tuple[int, str]:
    _, reason = labels.normalise_series(ds.frame[ds.label_column])
    position = int(reason.notna().to_numpy().argmax())
    return position + 1, str(ds.frame[ds.label_column].iloc[position])[:40]


def prepare(
    source: str | Path | LoadedDataset,
    out_dir: str | Path,
    options: PrepareOptions | None = None,
    progress: ProgressFn | None = None,
) -> BuildResult:
    options = options or PrepareOptions()
    progress = progress or null_progress
    options.check()
    if isinstance(source, LoadedDataset):
        ds = source
    else:
        ds = load_dataset(
            source, text_column=options.text_column, label_column=options.label_column,
            split_column=options.split_column, progress=progress,
        )
    splits, report, leaked = build_splits(ds, options, progress)

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError("output path exists and is not a folder", path=out)
    out.mkdir(parents=True, exist_ok=True)
    files, digests, sizes = {}, {}, {}
    for i, (name, frame) in enumerate(splits.items()):
        progress("write", i, len(splits))
        files[name] = out / f"{name}.jsonl"
        digests[name], sizes[name] = write_jsonl(
            files[name], frame, options.format, system_prompt=options.system_prompt,
            separator=options.separator, stop=options.stop,
        )
    progress("write", len(splits), len(splits))

    manifest = {
        "startune_version": _version(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "input": {
            "source": ds.source, "format": ds.format, "fingerprint": ds.fingerprint, "rows": ds.rows,
            "text_column": ds.text_column, "label_column": ds.label_column,
            "split_column": options.split_column or ds.split_column,
        },
        "options": options.to_dict(),
        "seed": options.seed,
        "format": options.format,
        "format_note": COMPLETION_FORMAT_NOTE if options.format == "completion" else None,
        "cleaning": report.to_dict() | {"cross_split_duplicates_removed": leaked},
        "splits": {
            name: {
                "file": files[name].name,
                "examples": len(frame),
                "labels": {v: int(n) for v, n in frame["label"].value_counts().reindex(
                    list(options.labels.values), fill_value=0).items()},
                "sha256": digests[name],
                "bytes": sizes[name],
            }
            for name, frame in splits.items()
        },
    }
    from core.data.notices import record_notices

    record_notices(manifest, ds.frame, options.labels)  # real sample counts, warnings
    write_file(out / MANIFEST, manifest_bytes(manifest))
    return BuildResult(out, files, manifest, report, splits)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("startune")
    except PackageNotFoundError:
        return "0+unknown"
