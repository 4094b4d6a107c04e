"""The whole preparation: load -> clean -> split -> sample -> order -> format -> write, plus manifest."""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from core.choices import (CONFLICT_POLICIES, DEFAULT_CONFLICT_POLICY, DEFAULT_FORMAT, DEFAULT_ORDER, DEFAULT_SEED,
                          DEFAULT_SEPARATOR, FORMATS, ORDERS, ConflictPolicy, Format, Order)
from core.data.clean import CleanReport, Texts, clean_keys, take_texts
from core.records.formats import COMPLETION_FORMAT_NOTE
from core.records.manifest import BuildManifest, TokenSummary, TokensNote
from core.data.labels import LabelSet
from core.data.notices import DROP_WARN_SHARE, record_notices
from core.data.load import LoadedDataset, load_dataset
from core.data.sample import Balance, order_split, sample_split
from core.data.split import SPLITS, check_fractions, rng_for, split_by_column, split_frame
from core.data.build_dir import build_folder
from core.data.write import manifest_bytes, write_file, write_jsonl
from core.seed import SEED_RULE, seed_refused
from core.errors import Advice, ConfigError, DataError, ValueRefused
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    from concurrent.futures import Future

    import pandas as pd

    from core.data.corrections import Corrections
    from core.validation.validate import ValidationReport

MANIFEST = "manifest.json"


@dataclass
class PrepareOptions:
    text_column: str | None = None
    label_column: str | None = None
    labels: LabelSet = field(default_factory=LabelSet)
    dedup: bool = True
    conflict_policy: ConflictPolicy = DEFAULT_CONFLICT_POLICY
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2)
    seed: int = DEFAULT_SEED
    stratify: bool = False
    split_column: str | None = None
    samples: dict[str, int] | None = None        # per split; a missing split keeps all its rows
    balance: Balance = None                       # None, "equal" or a per-label cap
    order: Order = DEFAULT_ORDER
    format: Format = DEFAULT_FORMAT
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
        if seed_refused(self.seed):
            raise ValueRefused("--seed", self.seed, SEED_RULE, shown=repr(self.seed))
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
    manifest: BuildManifest
    clean_report: CleanReport
    splits: dict[str, pd.DataFrame] = field(repr=False, default_factory=dict)  # label/row/group, no text
    validation: dict[str, ValidationReport] = field(repr=False, default_factory=dict)  # WriteChecks(validate=True)

    @property
    def manifest_path(self) -> Path:
        return self.out_dir / MANIFEST


def build_splits(
    ds: LoadedDataset, options: PrepareOptions, progress: ProgressFn = null_progress, texts: Texts | None = None,
    corrections: Corrections | None = None, applied: dict | None = None,
) -> tuple[dict[str, pd.DataFrame], CleanReport, int, Texts]:
    """Everything but the writing: (ordered splits with label/row/group, cleaning report, leaked rows,
    the stripped texts by input row). Splits hold no texts: the writer takes them by ``row``.
    ``corrections`` (core.data.corrections) are applied to the cleaned rows before splitting; what
    they changed is put in ``applied``."""
    options.check()
    progress("clean", 0, 4)
    cleaned, texts, report = clean_keys(
        ds.frame, ds.text_column, ds.label_column, options.labels,
        dedup=options.dedup, conflict_policy=options.conflict_policy, texts=texts,
    )
    non_empty = report.rows_in - report.empty_text
    invalid = sum(report.invalid_labels.values())
    if non_empty and invalid / non_empty > 0.5:
        row, value = _first_bad_label(ds, options.labels)
        raise DataError(
            f"column holds text, not labels in {{{','.join(options.labels.values)}}}: "
            f"{invalid:,} of {non_empty:,} rows are invalid, first at row {row}: {value!r}",
            path=ds.source, column=ds.label_column,
            hint=Advice.CHOOSE_LABEL,
        )
    if report.rows_out == 0:
        raise DataError(
            f"no usable rows left after cleaning ({report.rows_in:,} read, {report.empty_text:,} with empty text)",
            path=ds.source, column=ds.text_column,
        )
    if corrections is not None:
        from core.data.corrections import apply_corrections

        cleaned, summary = apply_corrections(cleaned, texts, corrections, options.labels)
        if applied is not None:
            applied.update(summary)
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
    return splits, report, leaked, texts


def preview(ds: LoadedDataset, options: PrepareOptions, n: int = 5) -> tuple[list[str], dict[str, dict[str, int]], CleanReport]:
    """The first n train records exactly as they will be written, the label counts per split, and
    the cleaning report, without writing anything (the TUI's live preview)."""
    from core.data.write import jsonl_bytes

    splits, report, _, texts = build_splits(ds, options)
    head = splits["train"].head(n)
    head = head.assign(text=take_texts(texts, head["row"].to_numpy()).to_numpy())
    lines = jsonl_bytes(head, options.format, system_prompt=options.system_prompt, separator=options.separator,
                        stop=options.stop).decode("utf-8").splitlines()
    counts = {name: {v: int(c) for v, c in frame["label"].value_counts().reindex(
        list(options.labels.values), fill_value=0).items()} for name, frame in splits.items()}
    return lines, counts, report


def _first_bad_label(ds: LoadedDataset, labels: LabelSet) -> tuple[int, str]:
    _, reason = labels.normalise_series(ds.frame[ds.label_column])
    position = int(reason.notna().to_numpy().argmax())
    return position + 1, str(ds.frame[ds.label_column].iloc[position])[:40]


@dataclass(frozen=True)
class WriteChecks:
    """What a build checks as it writes its files, the same for both engines (this module's prepare and
    core.data.outofcore.prepare_duckdb). ``validate``: also the report validate_file would give each
    non-empty file for ``model``, made from the records as they are written (exact token counts of the
    texts in memory, on a few threads, no re-reading). ``count_tokens=False`` (a build for a backend that
    does not bill by token): the reports check the format alone, and the manifest says the tokens were
    not counted."""

    validate: bool = False
    model: str | None = None
    count_tokens: bool = True


def prepare(source: str | Path | LoadedDataset, out_dir: str | Path, options: PrepareOptions | None = None,
            progress: ProgressFn | None = None, *, checks: WriteChecks = WriteChecks(),
            corrections: str | Path | None = None) -> BuildResult:
    """Build ``out_dir`` as a whole (see core.data.build_dir), checked as ``checks`` say. ``corrections``: a
    decisions file (core.data.corrections), applied to the cleaned rows and recorded in the manifest."""
    validate, model, count_tokens = checks.validate, checks.model, checks.count_tokens
    options = options or PrepareOptions()
    decisions = None
    if corrections is not None:
        from core.data.corrections import Corrections

        decisions = Corrections.load(corrections)
    progress = progress or null_progress
    options.check()
    counting = validate and count_tokens
    encoding = preload_encoding(options.format, model) if counting else None
    if isinstance(source, LoadedDataset):
        ds = source
    else:
        ds = load_dataset(
            source, text_column=options.text_column, label_column=options.label_column,
            split_column=options.split_column, progress=progress,
        )
    from core.data.sizes import check_text_sizes

    check_text_sizes(ds.frame[ds.text_column], ds.source, ds.text_column)
    tokens = _TokenTally(options, model, encoding) if encoding is not None else None
    texts = None
    if tokens and not options.samples:
        # every kept row will be written: count all rows now, on threads, while cleaning runs here
        # (the rows cleaning drops are counted for nothing; sampling would make that most of them)
        texts = Texts.of(ds.frame[ds.text_column])
        tokens.submit_all(texts)
    try:
        applied: dict = {}
        splits, report, leaked, texts = build_splits(ds, options, progress, texts, decisions, applied)
    except BaseException:
        if tokens:
            tokens.close()
        raise
    source_info = _source_info(ds, options)
    # the whole table is kept only when many rows were dropped: the warning then looks for the
    # column that fits the labels better
    unusable = report.empty_text + sum(report.invalid_labels.values())
    notice_frame = ds.frame if report.rows_in and unusable / report.rows_in > DROP_WARN_SHARE else None
    if not isinstance(source, LoadedDataset):
        # from here on only the text column is needed (``texts`` holds it): let the others go
        del ds

    out = Path(out_dir).expanduser()
    files, digests, sizes = {}, {}, {}
    try:
        with build_folder(out) as work:
            for i, (name, frame) in enumerate(splits.items()):
                if tokens and not tokens.counting_all:
                    tokens.submit(name, texts, frame["row"].to_numpy() - 1)
                progress("write", i, len(splits))
                files[name] = out / f"{name}.jsonl"
                digests[name], sizes[name] = write_jsonl(
                    work / files[name].name, frame, options.format, system_prompt=options.system_prompt,
                    separator=options.separator, stop=options.stop, texts=texts,
                )
            progress("write", len(splits), len(splits))
            manifest = _manifest(source_info, options, report, leaked, splits, files, digests, sizes)
            record_notices(manifest, notice_frame, options.labels)  # real sample counts, warnings
            if decisions is not None:
                manifest["corrections"] = applied
            if tokens:
                validation = tokens.reports(files, splits, progress)
            else:
                validation = format_reports(files, splits, options, model) if validate else {}
            if validation and counting:  # a launch of this build prices it from these counts (core.jobs.estimate)
                manifest["validation"] = {name: token_summary(r, digests[name]) for name, r in validation.items()}
            if validate:
                manifest["tokens"] = tokens_note(counting)
            write_file(work / MANIFEST, manifest_bytes(manifest))
    finally:
        if tokens:
            tokens.close()
    return BuildResult(out, files, manifest, report, splits, validation)


def _source_info(ds: LoadedDataset, options: PrepareOptions) -> dict:
    return {
        "source": ds.source, "format": ds.format, "fingerprint": ds.fingerprint, "rows": ds.rows,
        "text_column": ds.text_column, "label_column": ds.label_column,
        "split_column": options.split_column or ds.split_column,
    }


def _manifest(source_info, options, report, leaked, splits, files, digests, sizes) -> BuildManifest:
    manifest: BuildManifest = {
        "startune_version": _version(),
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "input": source_info,
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
    return manifest


def tokens_note(counted: bool) -> TokensNote:
    """What the manifest says of token counts: a launch for a backend that bills by token counts them
    itself when the build did not (core.jobs.estimate)."""
    if counted:
        return {"counted": True}
    return {"counted": False, "reason": "built for the local backend, which does not bill by token: tokens "
                                        "were not counted (prepare --tokens counts them; a launch elsewhere will)"}


def format_reports(files: dict[str, Path], splits: dict, options: PrepareOptions, model: str | None) -> dict:
    """Each written file's validation report without token counts: the format checks alone."""
    from core.validation.validate import validate_built

    return {name: validate_built(files[name], frame["label"], None, options.format, model=model,
                                 system_prompt=options.system_prompt, separator=options.separator, stop=options.stop)
            for name, frame in splits.items() if len(frame)}


def token_summary(report, sha256: str) -> TokenSummary:
    """What pricing a launch needs of a file's validation report, tied to the file's bytes."""
    return {"sha256": sha256, "model": report.model, "format": report.format, "ok": report.ok,
            "n_examples": report.n_examples, "billed_tokens_per_epoch": report.billed_tokens_per_epoch,
            "default_epochs": report.default_epochs, "n_over_limit": report.n_over_limit,
            "max_example_tokens": report.max_example_tokens}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("startune")
    except PackageNotFoundError:
        return "0+unknown"


def preload_encoding(fmt: str, model: str | None) -> Future:
    """Start loading the model's tokenizer on a thread: it overlaps reading the table."""
    import threading
    from concurrent.futures import Future

    from core.validation.validate import model_for_format

    future: Future = Future()

    def load() -> None:
        try:
            from core.validation.models import model_info
            from core.validation.tokens import get_encoding

            future.set_result(get_encoding(model_info(model_for_format(fmt, model)).encoding))
        except BaseException as exc:  # handed to the caller by future.result()
            future.set_exception(exc)

    threading.Thread(target=load, name="load-tokenizer", daemon=True).start()
    return future


class _TokenTally:
    """Token counts of every written record, from the texts the writer holds, counted on threads
    while the writer serialises; turned into validation reports at the end."""

    def __init__(self, options: PrepareOptions, model: str | None, encoding: Future) -> None:
        self.options = options
        self.model = model
        self.encoding = encoding
        self.counter = None
        self.futures: dict[str, list] = {}
        self.all_rows: list[Future] | None = None  # submit_all: counts of every input row, in order

    @property
    def counting_all(self) -> bool:
        return self.all_rows is not None

    def _suffix(self) -> str:
        return self.options.separator if self.options.format == "completion" else ""

    def _counter(self):
        from core.validation.tokens import ParallelCounter

        if self.counter is None:
            self.counter = ParallelCounter(self.encoding.result())
        return self.counter

    def submit_all(self, texts: Texts) -> None:
        """Queue every input row's text, in row order (each worker slices and strips its own span)."""
        counter, step = self._counter(), self._counter().CHUNK
        self.all_rows = [
            counter.submit_lazy(functools.partial(texts.span, start, min(start + step, len(texts))), self._suffix())
            for start in range(0, len(texts), step)
        ]

    def submit(self, name: str, texts: Texts, positions) -> None:
        """Queue the split's texts (by input position) for counting, while the writer writes them.
        Each chunk's texts are made by the counting thread itself: queued work holds only positions."""
        counter = self._counter()
        step = counter.CHUNK
        self.futures[name] = [
            counter.submit_lazy(functools.partial(texts.take, positions[start : start + step]), self._suffix())
            for start in range(0, len(positions), step)
        ]

    def reports(self, files: dict[str, Path], splits: dict[str, pd.DataFrame], progress: ProgressFn) -> dict:
        import numpy as np

        from core.validation.validate import validate_built

        out = {}
        every_row = np.concatenate([f.result() for f in self.all_rows]) if self.all_rows else None
        for name, frame in splits.items():
            if not len(frame):
                continue
            progress("tokens", 0, len(frame))
            if every_row is not None:
                counts = every_row[frame["row"].to_numpy() - 1]
            else:
                counts = np.concatenate([f.result() for f in self.futures[name]])  # file order
            out[name] = validate_built(
                files[name], frame["label"], counts, self.options.format, model=self.model,
                system_prompt=self.options.system_prompt, separator=self.options.separator, stop=self.options.stop,
            )
            progress("tokens", len(frame), len(frame))
        return out

    def close(self) -> None:
        if self.counter is not None:
            self.counter.close()
