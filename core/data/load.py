"""Reading a review dataset from disk (or the Hugging Face hub) into a table, with one-line errors."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import Advice, DataError
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    import pandas as pd

TEXT_COLUMNS = (
    "review", "text", "content", "review_body", "review_text", "review_description",
    "body", "comment", "sentence", "document", "reviewtext", "summary",
)
LABEL_COLUMNS = ("star", "stars", "rating", "ratings", "score", "label", "labels", "overall", "stars_rating",
                 "sentiment")
# what csv.Sniffer may choose between: the separators spreadsheets export (Excel in a locale with a
# decimal comma writes ";")
DELIMITERS = ",;\t|"
SNIFF_BYTES = 64 * 1024

FORMATS = {
    ".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".json": "json", ".jsonl": "jsonl",
    ".ndjson": "jsonl", ".parquet": "parquet", ".pq": "parquet",
}
# compressed text inputs (reviews.csv.gz, ...): the stdlib module that opens each
COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "lzma"}


@dataclass(frozen=True)
class LoadedDataset:
    frame: pd.DataFrame
    source: str
    format: str
    text_column: str
    label_column: str
    split_column: str | None
    fingerprint: str

    @property
    def rows(self) -> int:
        return len(self.frame)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def detect_columns(columns: Sequence[str]) -> tuple[str | None, str | None]:
    """The most likely (text, label) columns by name, or None where nothing fits."""
    by_norm = {_norm(c): c for c in reversed(list(columns))}

    def pick(candidates: Sequence[str]) -> str | None:
        for cand in candidates:
            if _norm(cand) in by_norm:
                return by_norm[_norm(cand)]
        # then a column whose name contains a candidate ("review_title_text", "user_rating")
        for cand in candidates:
            for col in columns:
                if _norm(cand) in _norm(col):
                    return col
        return None

    return pick(TEXT_COLUMNS), pick(LABEL_COLUMNS)


def file_fingerprint(path: Path, progress: ProgressFn = null_progress) -> str:
    from core.digest import sha256_file

    return "sha256:" + sha256_file(path, progress)


def _looks_like_hf_name(source: str) -> bool:
    # the hub's repo ids: "name" or "owner/name", each part at most 96 characters
    return (bool(re.fullmatch(r"[A-Za-z0-9][\w.-]{0,95}(/[\w.-]{1,96})?", source))
            and not Path(source).suffix)


def _with_known_extension(path: Path) -> Path | None:
    """``reviews`` typed for ``reviews.csv``: the one local file of that name with a known extension
    wins over a hub lookup. Several candidates are an error naming them."""
    import glob

    try:
        candidates = sorted(c for c in path.parent.glob(glob.escape(path.name) + ".*")
                            if c.is_file() and _format_of(c)[0] is not None)
    except OSError:
        return None
    if len(candidates) > 1:
        raise DataError("file not found; several files match: " + ", ".join(c.name for c in candidates[:5]),
                        path=path, hint="type the name with its extension")
    return candidates[0] if candidates else None


def _exists(path: Path) -> bool:
    """Whether ``path`` exists; a name the OS cannot even look up (too long, bad bytes) is a one-line error."""
    try:
        return path.exists()
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise DataError(f"cannot open: {reason.lower()} ({len(str(path)):,} characters)",
                        hint="check the path") from None


def _locate_bad_utf8(path: Path) -> tuple[int, int]:
    """(line, byte offset) of the first invalid UTF-8 sequence: only called on the error path."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, exc.start
    return 0, 0


def _csv_row_of_line(path: Path, line: int) -> int:
    # Quoted fields may hold newlines, so a physical line number is not a record number; the
    # record number is what the user can find in a spreadsheet. Counted only on the error path.
    import csv

    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        for record_no, _ in enumerate(reader):
            if reader.line_num >= line:
                return record_no  # header is record 0, so data rows count from 1
    return line - 1


def csv_delimiter(path: Path, default: str, opener=open) -> str:
    """The file's delimiter: ``default`` unless its header has none of it and csv.Sniffer finds one of
    DELIMITERS in a sample. A header that ``default`` already splits keeps it: a text column full of
    commas must not make a comma file look like another dialect."""
    import csv

    try:
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            sample = fh.read(SNIFF_BYTES)
    except (OSError, EOFError):
        return default
    header = sample.split("\n", 1)[0]
    if default in header:
        return default
    if "\n" in sample[len(header) + 1:] and len(sample) == SNIFF_BYTES:
        sample = sample[: sample.rfind("\n")]  # whole records only: a cut record may look like another dialect
    try:
        found = csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        # too few rows for the sniffer to compare: the header alone decides
        found = next((d for d in DELIMITERS if d in header), default)
    return found if found in header else default


def _swallowed_rows(frame: pd.DataFrame, sep: str, path: Path) -> None:
    """An unterminated quote reads as one value holding many records (until the next quote): name
    the row it opens in rather than train on a review made of other reviews."""
    import csv

    width = len(frame.columns)
    if width < 2:
        return
    kinds: dict[int, set[str]] | None = None

    def rowlike(line: str) -> bool:
        # a record of this file: as many fields as the header, and in some column of few distinct values
        # (the label) a value that column holds; a multi-paragraph review with commas is not one
        nonlocal kinds
        fields = next(csv.reader([line], delimiter=sep), [])
        if len(fields) != width:
            return False
        if kinds is None:
            kinds = {}
            for i, name in enumerate(frame.columns):
                # a column of more than 50 values among its first thousand is not one: the review
                # column's distinct values cost most of a second on a big file
                if frame[name].iloc[:1000].nunique() > 50:
                    continue
                distinct = frame[name].drop_duplicates()
                if len(distinct) <= 50:
                    kinds[i] = set(map(str, distinct))
        return any(fields[i].strip() in values for i, values in kinds.items())

    for column in frame.columns:
        values = frame[column]
        if values.dtype == object or str(values.dtype).startswith("string"):
            many = values.str.count("\n") >= 2
            if not many.any():
                continue
            for position in many.to_numpy().nonzero()[0]:
                lines = str(values.iloc[position]).split("\n")[1:]
                records = sum(map(rowlike, lines[:100]))
                if records >= 2 and records * 2 >= min(len(lines), 100):
                    raise DataError(
                        f"a quote opened in column {column!r} is never closed: it swallows the next "
                        f"{len(lines)} lines as one value", path=path, row=int(position) + 1,
                        hint='close the quote (a quote inside a quoted value is written "")')


CSV_BLOCK = 1 << 20  # bytes the CSV reader parses at a time (on each thread): a column is a chunk per block


def _read_csv(path: Path, sep: str) -> pd.DataFrame:
    import pandas as pd

    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv

        # pyarrow's reader is multi-threaded and several times faster than pandas' own on big files;
        # pandas re-reads on failure to produce the precise message below.
        parse = pacsv.ParseOptions(delimiter=sep, newlines_in_values=True)

        def convert(types: dict) -> pacsv.ConvertOptions:
            return pacsv.ConvertOptions(column_types=types, strings_can_be_null=False,
                                        quoted_strings_can_be_null=False, null_values=[], auto_dict_encode=False)

        # the column names first (one small block), so every column is read straight into large
        # strings (64-bit offsets: a column may pass 2 GB) and the table never exists twice
        with pacsv.open_csv(path, parse_options=parse, convert_options=convert({}),
                            read_options=pacsv.ReadOptions(block_size=1 << 20)) as head:
            names = head.schema.names
        # one call for the whole read: it lets go of the GIL throughout, so the tokenizer loads meanwhile
        table = pacsv.read_csv(path, parse_options=parse, convert_options=convert({n: pa.large_string() for n in names}),
                               read_options=pacsv.ReadOptions(block_size=CSV_BLOCK))
        return table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow")}.get)
    except UnicodeDecodeError:
        raise
    except Exception:
        pass
    try:
        return pd.read_csv(
            path, sep=sep, dtype=str, keep_default_na=False, na_filter=False, engine="c",
            encoding="utf-8", encoding_errors="strict",
        )
    except pd.errors.EmptyDataError:
        raise DataError("file is empty", path=path) from None
    except pd.errors.ParserError as exc:
        text = str(exc)
        m = re.search(r"line (\d+)", text)
        start = re.search(r"starting at row (\d+)", text)  # the tokenizer's physical lines, from 0
        line = int(m.group(1)) if m else int(start.group(1)) + 1 if start else None
        row = _csv_row_of_line(path, line) if line is not None else None
        if "EOF inside string" in text:
            msg = "broken CSV quoting: a quoted field is never closed"
        elif m and "Expected" in text:
            fields = re.search(r"Expected (\d+) fields.*saw (\d+)", text)
            msg = "broken CSV: " + (
                f"expected {fields.group(1)} fields, found {fields.group(2)}" if fields else text
            ) + " (check quoting)"
        else:
            msg = f"broken CSV: {text}"
        raise DataError(msg, path=path, row=row) from None


def _read_json(path: Path, lines: bool) -> pd.DataFrame:
    import orjson
    import pandas as pd

    records: list = []
    if lines:
        from core.records.jsonl import iter_jsonl

        for number, obj in iter_jsonl(path):
            if not isinstance(obj, dict):
                raise DataError("line is not a JSON object", path=path, row=number)
            records.append(obj)
    else:
        try:
            obj = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise DataError(f"invalid JSON ({exc})", path=path) from None
        if isinstance(obj, dict):
            # {"data": [...]}, {"train": [...]} or column-oriented {"review": [...], "star": [...]}
            lists = {k: v for k, v in obj.items() if isinstance(v, list)}
            if len(lists) == 1:
                obj = next(iter(lists.values()))
            elif lists and len({len(v) for v in lists.values()}) == 1:
                return pd.DataFrame(lists)  # typed values: the text column is checked by as_text
        if not isinstance(obj, list):
            raise DataError("JSON file must hold a list of records", path=path)
        for n, rec in enumerate(obj, start=1):
            if not isinstance(rec, dict):
                raise DataError("record is not a JSON object", path=path, row=n)
        records = obj
    if not records:
        raise DataError("file has no records", path=path)
    frame = pd.DataFrame.from_records(records)
    return frame


def _read_parquet(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pandas()
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise DataError(f"not a readable Parquet file ({exc.__class__.__name__}: {exc})", path=path) from None


def _hub_reachable(name: str, timeout: float = 3.0) -> None:
    """Fail in seconds offline: the hub client retries for half a minute before giving up."""
    import socket
    from urllib.parse import urlparse

    from core.settings import env

    endpoint = urlparse(env().hf_endpoint or "https://huggingface.co")
    host, port = endpoint.hostname or "huggingface.co", endpoint.port or (80 if endpoint.scheme == "http" else 443)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        raise DataError(f"{name!r} is not a file, and the Hugging Face hub ({host}) cannot be reached",
                        hint="give a local CSV/JSON/JSONL/Parquet path, or check your network") from None


def _read_hf(name: str) -> tuple[pd.DataFrame, str]:
    from core.settings import env

    if env().hf_hub_offline or env().hf_datasets_offline:
        raise DataError(
            f"{name!r} is not a file, and Hugging Face datasets are unavailable offline",
            hint="give a local CSV/JSON/JSONL/Parquet path, or unset HF_HUB_OFFLINE",
        )
    _hub_reachable(name)
    try:
        import datasets

        dd = datasets.load_dataset(name)
    except Exception as exc:
        raise DataError(
            f"cannot load Hugging Face dataset {name!r}: {exc.__class__.__name__}: {str(exc).splitlines()[0][:200]}",
            hint="check the name and your network, or give a local file",
        ) from None
    import pandas as pd

    frames = []
    for split, part in dd.items():
        frame = part.to_pandas()
        frame["split"] = split
        frames.append(frame)
    revision = getattr(next(iter(dd.values())).info, "version", None)
    return pd.concat(frames, ignore_index=True), f"hf:{name}@{revision or 'main'}"


def _sniff_binary(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(8192)
    return b"\x00" in head


def _format_of(path: Path) -> tuple[str | None, str | None]:
    """(format, compression module) from the name: reviews.csv, reviews.jsonl.gz, ..."""
    suffixes = [x.lower() for x in path.suffixes]
    compression = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if compression is not None:
        suffixes = suffixes[:-1]
    return (FORMATS.get(suffixes[-1]) if suffixes else None), compression


def _decompress(path: Path, module: str, into: Path) -> Path:
    """The decompressed file, streamed into a scratch folder, so every reader and every error path
    (line numbers, bad UTF-8) works on it as on a plain file."""
    import importlib
    import shutil

    opener = importlib.import_module(module).open
    target = into / path.name.rsplit(".", 1)[0]
    try:
        with opener(path, "rb") as src, target.open("wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 22)
    except (OSError, EOFError, ValueError) as exc:  # gzip/bz2/lzma raise these for corrupt data
        raise DataError(f"cannot decompress ({module}): {exc}", path=path) from None
    return target


def _check_columns(frame: pd.DataFrame, path: Path) -> None:
    from collections import Counter

    counts = Counter(str(c) for c in frame.columns)
    repeated = [name for name, n in counts.items() if n > 1]
    if repeated:
        where = "; ".join(
            f"{name!r} is columns " + ", ".join(str(i + 1) for i, c in enumerate(frame.columns) if str(c) == name)
            for name in repeated)
        raise DataError(f"duplicate column names: {where}", path=path,
                        hint="rename them so each column has its own name")


def read_table(source: str | Path, progress: ProgressFn = null_progress) -> tuple[pd.DataFrame, str, str, str]:
    """(frame, source label, format, fingerprint) for a file path or a Hugging Face dataset name."""
    src = str(source)
    path = Path(src).expanduser()
    if not _exists(path):
        local = _with_known_extension(path) if path.name else None
        if local is not None:
            path = local
        elif _looks_like_hf_name(src):
            frame, fingerprint = _read_hf(src)
            return frame, f"hf:{src}", "hf", fingerprint
        else:
            raise DataError("file not found", path=path if len(src) <= 300 else Path(src[:300] + "..."))
    if path.is_dir():
        raise DataError("is a directory, not a dataset file", path=path)
    fmt, compression = _format_of(path)
    if fmt is None:
        raise DataError(
            f"unknown format {''.join(path.suffixes[-2:]) if compression else path.suffix or '(no extension)'!r}",
            path=path,
            hint="use .csv, .tsv, .json, .jsonl or .parquet, optionally compressed (.gz, .bz2, .xz)",
        )
    if path.stat().st_size == 0:
        raise DataError("file is empty", path=path)
    progress("read", 0, None)
    if compression is not None:
        import tempfile

        with tempfile.TemporaryDirectory(prefix="startune-") as scratch:
            frame = _read_plain(_decompress(path, compression, Path(scratch)), fmt, shown=path)
    else:
        frame = _read_plain(path, fmt, shown=path)
    progress("read", 1, 1)
    return frame, str(path), fmt, file_fingerprint(path, progress)


def _read_plain(path: Path, fmt: str, shown: Path) -> pd.DataFrame:
    """Read an uncompressed file; errors name ``shown`` (the file the user gave)."""
    if path.stat().st_size == 0:
        raise DataError("file is empty", path=shown)
    if fmt != "parquet" and _sniff_binary(path):
        raise DataError(f"binary data, not {fmt.upper()} text", path=shown)
    try:
        if fmt in ("csv", "tsv"):
            sep = csv_delimiter(path, "," if fmt == "csv" else "\t")
            frame = _read_csv(path, sep)
        elif fmt in ("json", "jsonl"):
            frame = _read_json(path, lines=fmt == "jsonl")
        else:
            frame = _read_parquet(path)
    except UnicodeDecodeError:
        line, offset = _locate_bad_utf8(path)
        raise DataError(f"invalid UTF-8 at line {line} (byte {offset})", path=shown,
                        hint="save the file as UTF-8") from None
    except DataError as exc:
        if path != shown and exc.path == str(path):
            exc.path = str(shown)
            exc.args = (str(exc),)
        raise
    _check_columns(frame, shown)
    if fmt in ("csv", "tsv"):
        _swallowed_rows(frame, sep, shown)
    return frame


def load_dataset(
    source: str | Path,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    split_column: str | None = None,
    progress: ProgressFn | None = None,
) -> LoadedDataset:
    progress = progress or null_progress
    frame, label, fmt, fingerprint = read_table(source, progress)
    where = label
    if len(frame) == 0:
        raise DataError("file has a header but no rows", path=where)
    columns = [str(c) for c in frame.columns]
    frame.columns = columns
    guessed_text, guessed_label = detect_columns(columns)
    text_column = text_column or guessed_text
    label_column = label_column or guessed_label
    listing = ", ".join(columns)
    for role, col, advice in (("text", text_column, Advice.NAME_TEXT_COLUMN),
                              ("label", label_column, Advice.NAME_LABEL_COLUMN)):
        if col is None:
            raise DataError(f"no {role} column found; columns are: {listing}", path=where, hint=advice)
        if col not in frame.columns:
            raise DataError(f"no column {col!r}; columns are: {listing}", path=where)
    assert text_column is not None and label_column is not None   # the loop above raised otherwise
    if text_column == label_column:
        raise DataError(f"column {text_column!r} cannot be both text and label", path=where)
    if split_column is not None and split_column not in frame.columns:
        raise DataError(f"no split column {split_column!r}; columns are: {listing}", path=where)
    from core.data.text_values import as_text

    # typed inputs (JSON, Parquet): no Python reprs in the training data (rule in core/data/text_values.py)
    frame[text_column] = as_text(frame[text_column], path=where, column=text_column)
    return LoadedDataset(frame, label, fmt, text_column, label_column, split_column, fingerprint)
