"""`startune prepare` for inputs larger than memory, on DuckDB (``--engine duckdb``).

The memory engine (core.data.pipeline) holds the table in RAM. This engine lets DuckDB read the
file into a database file in a scratch folder inside the build folder, clean, split, sample and
order there (DuckDB spills its joins, windows and sorts to that folder past ``memory_limit``), and
streams each split out in file order, a record batch at a time, through the same JSONL writer.

Cleaning follows the memory engine's rules and gives the same CleanReport on the same input:
texts stripped of Arrow's Unicode whitespace, empty texts and bad labels dropped (LabelSet rules,
applied to the few distinct raw label values), exact duplicates, duplicate texts, conflict
policies, "first" meaning the lowest 1-based input row. Texts are grouped by a 128-bit hash of
their stripped text (MD5; as the memory engine's two 64-bit hashes, a collision is ~2^-128).

Splitting, sampling and ordering differ on purpose: each distinct text goes to a split by a
seeded hash of the text (no global permutation, so it streams; a text never lands in two splits;
split sizes are the fractions in expectation, and so are label shares, which is why --stratify
adds nothing here), samples are the first N of each split in a seeded hash order, and that order
(or label, then it, for ``sorted``) is the file's order. So the same seed gives the same files on
this engine, but not the memory engine's files.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import threading
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from core.choices import ENGINES
from core.data.clean import CleanReport
from core.records.jsonl import MAX_LINE
from core.data.split import SPLITS
from core.errors import Advice, ConfigError, DataError
from core.progress import ProgressFn, null_progress

if TYPE_CHECKING:
    from core.data.pipeline import BuildResult, PrepareOptions, WriteChecks

AUTO_RAM_SHARE = 0.125       # auto: duckdb above this share of RAM (the memory engine peaks at ~5x the CSV)
DUCKDB_RAM_SHARE = 0.5       # DuckDB's memory_limit; the writer and token counters need the rest
MEMORY_ENV = "STARTUNE_DUCKDB_MEMORY"
BATCH_ROWS = 20_000          # rows per record batch streamed to the writer (its own chunk size)
MAX_PENDING_COUNTS = 8       # batches queued for token counting ahead of the counters: bounds the texts held
_HASH_RANGE = 1 << 53

# Arrow's utf8_trim_whitespace set (core.data.clean._strip), for DuckDB's trim(text, characters):
# the memory engine's stripping, checked against Arrow by a test
WHITESPACE = "".join(map(chr, (
    0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
    *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F, 0x3000,
)))


def total_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not POSIX: assume a small machine
        return 4 << 30


def choose_engine(engine: str, source) -> str:
    """``auto``: duckdb for a local file larger than AUTO_RAM_SHARE of RAM, else memory (whose
    files stay byte-identical to earlier builds)."""
    if engine not in ENGINES:
        raise ConfigError(f"unknown engine {engine!r}: use {', '.join(ENGINES)}")
    if engine != "auto":
        return engine
    path = Path(str(source)).expanduser()
    if path.is_file() and path.stat().st_size > total_memory() * AUTO_RAM_SHARE:
        return "duckdb"
    return "memory"


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _delimiter(path: Path, fmt: str) -> str:
    import gzip

    from core.data.load import csv_delimiter

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    return csv_delimiter(path, "," if fmt == "csv" else "\t", opener)


def _csv_header(path: Path, delimiter: str) -> list[str]:
    """The header record, read here: DuckDB's sniffer would take a broken row for the header."""
    import csv
    import gzip

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        # bad bytes past the header are for DuckDB to report, with their row
        with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), None)
    except (UnicodeDecodeError, OSError, EOFError, csv.Error) as exc:
        raise DataError(f"cannot read the header: {exc}", path=path) from None
    if not header:
        raise DataError("file is empty", path=path)
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise DataError(f"duplicate column names: {', '.join(map(repr, repeated))}", path=path,
                        hint="rename them so each column has its own name")
    return header


def _reader(path: Path, fmt: str) -> str:
    p = _lit(str(path))
    if fmt in ("csv", "tsv"):
        delimiter = _delimiter(path, fmt)   # sniffed once: the header and DuckDB read the same dialect
        delim = "\\t" if delimiter == "\t" else delimiter
        columns = "{" + ", ".join(f"{_lit(name)}: 'VARCHAR'" for name in _csv_header(path, delimiter)) + "}"
        # every value as text, as the memory engine reads CSV; quoted newlines are allowed; no
        # sniffing: the dialect is known and a wrong guess would hide the broken row
        return (f"read_csv({p}, header=true, delim=E'{delim}', quote='\"', escape='\"', columns={columns}, "
                f"auto_detect=false, strict_mode=true, max_line_size={MAX_LINE})")
    if fmt == "jsonl":
        return f"read_json({p}, format='newline_delimited', records=true, maximum_object_size={MAX_LINE})"
    if fmt == "json":
        return f"read_json({p}, format='array', records=true, maximum_object_size={MAX_LINE})"
    return f"read_parquet({p})"


def _binary(path: Path) -> bool:
    import gzip

    from core.data.load import _sniff_binary

    if path.suffix.lower() != ".gz":
        return _sniff_binary(path)
    try:
        with gzip.open(path, "rb") as fh:
            return b"\x00" in fh.read(8192)
    except (OSError, EOFError):
        return False  # DuckDB's reader says what is wrong with it


def _input_format(path: Path) -> str:
    from core.data.load import _format_of

    fmt, compression = _format_of(path)
    if fmt is None:
        raise DataError(f"unknown format {path.suffix or '(no extension)'!r}", path=path,
                        hint="use .csv, .tsv, .json, .jsonl or .parquet (or .csv.gz, .jsonl.gz)")
    if compression not in (None, "gzip") or (compression and fmt == "parquet"):
        raise DataError(f"--engine duckdb reads plain or gzip-compressed text files, not {path.suffixes[-1]}",
                        path=path, hint="decompress the file, or recompress it with gzip")
    return fmt


def _data_error(exc: Exception, path: Path, fmt: str) -> DataError:
    """One line from a DuckDB reader error, with the row when DuckDB names a line."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    m = re.search(r"CSV Error on Line: (\d+)", text)
    if m:
        line = int(m.group(1))
        row = line - 1  # DuckDB counts records (the header is 1), not physical lines
        fields = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", text)
        if "unicode" in text.lower():
            return DataError("invalid UTF-8", path=path, row=row, hint="save the file as UTF-8")
        if "Maximum line size" in text:
            return DataError(f"row is longer than {MAX_LINE // 2**20} MB: not a CSV of reviews, or a text far over "
                             "any model's limit", path=path, row=row)
        if fields:
            reason = f"expected {fields.group(1)} fields, found {fields.group(2)} (check quoting)"
        elif "unterminated quote" in text:
            reason = "a quoted field is never closed"
        else:
            cut = text.find("Possible fixes")
            reason = (text[:cut] if cut > 0 else text).strip().splitlines()[-1][:200]
        return DataError(f"broken {fmt.upper()}: {reason}", path=path, row=row)
    if "sniffing file" in text or "parsing dialect" in text:
        return DataError(f"broken {fmt.upper()}: DuckDB cannot read it as {fmt.upper()} "
                         "(check quoting and the number of fields per row)", path=path)
    first = lines[0] if lines else exc.__class__.__name__
    first = re.sub(r"^[A-Za-z ]*Error: ", "", first)
    return DataError(f"cannot read as {fmt.upper()}: {first[:300]}", path=path)


def _stripped(column: str) -> str:
    """SQL for ``column`` without surrounding WHITESPACE. DuckDB's trim with a character list is
    slow (3x a copy), and most texts have nothing to strip: only those whose first or last
    character is whitespace go through it."""
    ws = _lit(WHITESPACE)
    return (f"CASE WHEN contains({ws}, left({column}, 1)) OR contains({ws}, right({column}, 1)) "
            f"THEN trim({column}, {ws}) ELSE {column} END")


def _seeded_hash(purpose: str, seed: int, column: str) -> str:
    """SQL for a uniform integer in [0, 2^53] from the stripped text ``column``, the seed and a purpose:
    the top bits of an MD5 (stable across DuckDB versions, unlike hash()). Through DOUBLE, because
    DuckDB's UHUGEINT arithmetic and casts to text are slow; scaling by powers of two is exact."""
    digest = f"CAST(md5_number({_lit(f'{purpose}:{int(seed)}:')} || {column}) AS DOUBLE)"
    # DuckDB before 1.1 gave a signed HUGEINT: the same bits read as unsigned
    unsigned = f"({digest} + CASE WHEN {digest} < 0 THEN {float(1 << 128)!r} ELSE 0 END)"
    return f"CAST(floor({unsigned} * {float(_HASH_RANGE) / float(1 << 128)!r}) AS BIGINT)"


@contextlib.contextmanager
def _duckdb_errors(path: Path, scratch: Path):
    """DuckDB's failures past reading (memory, disk) as one line; reader errors are handled by load."""
    import duckdb

    try:
        yield
    except duckdb.OutOfMemoryException as exc:
        raise ConfigError(f"DuckDB ran out of memory (limit {duckdb_memory_limit()}): {_first_line(exc)}",
                          path=path, hint=f"raise {MEMORY_ENV} (e.g. 4GB), or free memory") from None
    except duckdb.IOException as exc:
        raise ConfigError(f"DuckDB cannot write its scratch files: {_first_line(exc)}", path=scratch.parent,
                          hint="free disk space beside --out (a few times the input)") from None
    except duckdb.Error as exc:
        raise DataError(f"DuckDB failed: {_first_line(exc)}", path=path) from None


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return re.sub(r"^[A-Za-z ]*Error: ", "", lines[0] if lines else exc.__class__.__name__)[:300]


def duckdb_memory_limit() -> str:
    from core.settings import env

    limit = env().startune_duckdb_memory
    if limit:
        return limit
    return f"{max(256, int(total_memory() * DUCKDB_RAM_SHARE) >> 20)}MB"


def _connect(scratch: Path):
    import duckdb

    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        con = duckdb.connect(str(scratch / "prepare.duckdb"), config={
            "memory_limit": duckdb_memory_limit(),
            "temp_directory": str(scratch / "spill"),
            "threads": threads,
            # the input's row order is the meaning of "first": rowid numbers rows as read
            "preserve_insertion_order": True,
        })
        # progress is tracked for query_progress() (our own bar), never drawn by DuckDB on the terminal
        con.execute("SET enable_progress_bar = true; SET enable_progress_bar_print = false; "
                    "SET progress_bar_time = 0")
    except duckdb.Error as exc:
        raise ConfigError(f"cannot start DuckDB: {str(exc).splitlines()[0]}",
                          hint=f"check {MEMORY_ENV} (e.g. 2GB)") from None
    return con


class _Run:
    """One build's SQL, step by step, on one connection."""

    def __init__(self, con, options: PrepareOptions, progress: ProgressFn) -> None:
        self.con = con
        self.options = options
        self.progress = progress
        self.types: dict[str, str] = {}

    def sql(self, query: str, params=None):
        return self.con.execute(query, params or [])

    def long(self, stage: str, query: str) -> None:
        """Run a statement that passes over the data, reporting DuckDB's own percentage of it."""
        if self.progress is null_progress:
            self.sql(query)
            return
        done = threading.Event()

        def watch() -> None:
            while not done.wait(0.25):
                share = self.con.query_progress()
                if share >= 0:
                    self.progress(stage, int(share), 100)

        watcher = threading.Thread(target=watch, name="duckdb-progress", daemon=True)
        watcher.start()
        try:
            self.sql(query)
        finally:
            done.set()
            watcher.join()
        self.progress(stage, 100, 100)

    def as_text(self, column: str, table: str = "") -> str:
        """SQL for a column's values as text: a JSON string without its quotes, other JSON as written."""
        ref = f"{table}{_q(column)}"
        if self.types.get(column) == "JSON":
            return f"({ref} ->> '$')"
        return f"CAST({ref} AS VARCHAR)"

    def review_text(self, column: str) -> str:
        """SQL for the text column by core/data/text_values.py's rule: strings as written, numbers
        as their digits (7.0 -> "7"), null as empty; check_text_values refuses the rest first."""
        typ = self.types.get(column, "VARCHAR")
        ref = _q(column)

        def digits(number: str) -> str:
            return (f"CASE WHEN {number} = trunc({number}) AND abs({number}) < 1e15 "
                    f"THEN CAST(CAST({number} AS BIGINT) AS VARCHAR) ELSE CAST({number} AS VARCHAR) END")

        if typ == "JSON":
            return (f"CASE WHEN json_type({ref}) = 'DOUBLE' THEN {digits(f'CAST({ref} AS DOUBLE)')} "
                    f"ELSE ({ref} ->> '$') END")
        if typ in ("DOUBLE", "FLOAT") or typ.startswith("DECIMAL"):
            return digits(ref)
        return f"CAST({ref} AS VARCHAR)"

    def check_text_values(self, column: str, source: str) -> None:
        typ = self.types.get(column, "VARCHAR")
        ref = _q(column)
        if typ == "JSON":
            kind = (f"CASE json_type({ref}) WHEN 'BOOLEAN' THEN 'boolean' WHEN 'ARRAY' THEN 'list' "
                    f"WHEN 'OBJECT' THEN 'object' END")
        elif typ == "BOOLEAN":
            kind = f"CASE WHEN {ref} IS NOT NULL THEN 'boolean' END"
        elif typ.endswith("]"):
            kind = f"CASE WHEN {ref} IS NOT NULL THEN 'list' END"
        elif typ.startswith(("STRUCT", "MAP", "UNION")):
            kind = f"CASE WHEN {ref} IS NOT NULL THEN 'object' END"
        else:
            return
        refused = self.sql(f"SELECT kind, count(*) AS n, min(rn) FROM (SELECT {kind} AS kind, rowid + 1 AS rn "
                           f"FROM src) WHERE kind IS NOT NULL GROUP BY kind ORDER BY n DESC").fetchall()
        if not refused:
            return
        total = self.one("SELECT count(*) FROM src")[0]
        first = min(row for _, _, row in refused)
        value = self.one(f"SELECT CAST({ref} AS VARCHAR) FROM src WHERE rowid = ?", [first - 1])[0]
        listing = ", ".join(f"{n:,} {kind}" for kind, n, _ in refused)
        raise DataError(f"{sum(n for _, n, _ in refused):,} of {total:,} values are not text ({listing}); "
                        f"first: {str(value)[:60]}", path=source, row=first, column=column,
                        hint="reviews must be strings (numbers are read as their digits): "
                             "choose another --text-column or fix these rows")

    def check_text_sizes(self, column: str, source: str) -> None:
        from core.data.sizes import MAX_TEXT_CHARS, too_long

        found = self.sql(f"SELECT rowid + 1, length({self.review_text(column)}) AS n FROM src "
                         f"WHERE n > {MAX_TEXT_CHARS} ORDER BY rowid LIMIT 1").fetchall()
        if found:
            raise DataError(too_long(found[0][1]), path=source, row=found[0][0], column=column,
                            hint="check --text-column, or remove the row")

    def one(self, query: str, params=None):
        return self.sql(query, params).fetchall()[0]  # drained: DuckDB 2 refuses new work beside a result

    def load(self, path: Path, fmt: str) -> list[str]:
        import duckdb

        self.progress("read", 0, 100)
        try:
            self.long("read", f"CREATE TABLE src AS SELECT * FROM {_reader(path, fmt)}")
        except (duckdb.OutOfMemoryException, duckdb.IOException):
            raise  # not the file's fault: _duckdb_errors says what it is
        except duckdb.Error as exc:
            raise _data_error(exc, path, fmt) from None
        described = self.sql("DESCRIBE src").fetchall()
        self.types = {row[0]: str(row[1]) for row in described}
        return [row[0] for row in described]

    def columns(self, names: list[str], source: str) -> tuple[str, str, str | None]:
        from core.data.load import detect_columns

        o = self.options
        guessed_text, guessed_label = detect_columns(names)
        text, label = o.text_column or guessed_text, o.label_column or guessed_label
        listing = ", ".join(names)
        for role, col, advice in (("text", text, Advice.NAME_TEXT_COLUMN), ("label", label, Advice.NAME_LABEL_COLUMN)):
            if col is None:
                raise DataError(f"no {role} column found; columns are: {listing}", path=source, hint=advice)
            if col not in names:
                raise DataError(f"no column {col!r}; columns are: {listing}", path=source)
        if text == label:
            raise DataError(f"column {text!r} cannot be both text and label", path=source)
        if o.split_column is not None and o.split_column not in names:
            raise DataError(f"no split column {o.split_column!r}; columns are: {listing}", path=source)
        assert text is not None and label is not None   # the loop above raised otherwise
        return text, label, o.split_column

    def clean(self, names: list[str], text: str, label: str, split: str | None, source: str) -> CleanReport:
        import pandas as pd

        o = self.options
        rows_in = self.one("SELECT count(*) FROM src")[0]
        if rows_in == 0:
            raise DataError("file has a header but no rows", path=source)
        self.progress("clean", 0, 100)
        self.check_text_values(text, source)
        self.check_text_sizes(text, source)
        # the distinct raw labels (few), normalised by the LabelSet's own rules in Python
        raw = [r[0] for r in self.sql(f"SELECT DISTINCT {self.as_text(label)} FROM src").fetchall()]
        norm, reason = o.labels.normalise_series(pd.Series(raw, dtype=object))
        typ = self.types.get(label, "VARCHAR")
        if typ == "JSON" or typ.endswith("[]") or typ.startswith(("STRUCT", "MAP")):
            # a list or an object is no label: the memory engine's own reason for typed inputs
            from core.data.clean import NOT_A_VALUE

            nested = pd.Series([isinstance(v, str) and v.lstrip()[:1] in ("[", "{") for v in raw], dtype=bool)
            norm, reason = norm.mask(nested), reason.mask(nested, NOT_A_VALUE)
        position = {v: i for i, v in enumerate(o.labels.values)}
        labmap = pd.DataFrame({
            "raw": pd.Series(raw, dtype=object),
            "label": [None if pd.isna(v) else str(v) for v in norm],
            "pos": [None if pd.isna(v) else position[str(v)] for v in norm],
            "reason": [None if pd.isna(v) else str(v) for v in reason],
        })
        self.con.register("labmap_frame", labmap)
        self.sql("CREATE TABLE labmap AS SELECT raw::VARCHAR AS raw, label::VARCHAR AS label, "
                 "pos::INTEGER AS pos, reason::VARCHAR AS reason FROM labmap_frame")
        self.con.unregister("labmap_frame")
        every = ", ".join(_q(n) for n in names)
        split_expr = f", {self.as_text(split, 's.')} AS split_value" if split else ""
        # one row per input row: 1-based row, stripped text, its 128-bit key, label, whether an
        # earlier row is the same in every column (copy > 1), and the seeded hashes that split and
        # order it. Only this table holds texts: later steps move small rows and the writer joins
        # the texts back (each copy of the texts is a pass over the disk)
        self.long("clean", f"""
            CREATE TABLE rows AS
            SELECT s.__rn AS rn, s.__t AS t, md5_number(s.__t) AS key, m.label, m.pos, m.reason, m.raw,
                   row_number() OVER (PARTITION BY {every} ORDER BY s.__rn) AS copy,
                   {_seeded_hash('split', o.seed, '__t')} AS h, {_seeded_hash('order', o.seed, '__t')} AS o
                   {split_expr}
            FROM (SELECT *, {_stripped('__v')} AS __t
                  FROM (SELECT rowid + 1 AS __rn, *, coalesce({self.review_text(text)}, '') AS __v FROM src)) s
            LEFT JOIN labmap m ON {self.as_text(label, 's.')} IS NOT DISTINCT FROM m.raw
        """)
        self.sql("DROP TABLE src")
        report = CleanReport(rows_in=rows_in)
        report.empty_text = self.one("SELECT count(*) FROM rows WHERE t = ''")[0]
        report.invalid_labels = {r: n for r, n in self.sql(
            "SELECT reason, count(*) AS n FROM rows WHERE t <> '' AND label IS NULL "
            "GROUP BY reason ORDER BY n DESC, reason").fetchall()}
        report.exact_duplicates = self.one(
            "SELECT count(*) FROM rows WHERE t <> '' AND label IS NOT NULL AND copy > 1")[0]
        self._check_labels(report, source, label)
        dedup = " AND copy = 1" if o.dedup else ""
        self.long("clean", f"CREATE TABLE kept AS SELECT * EXCLUDE (t, copy, reason, raw) FROM rows "
                 f"WHERE t <> '' AND label IS NOT NULL{dedup}")
        self.sql("CREATE TABLE pairs AS SELECT key, label, count(*) AS n, min(rn) AS first_rn "
                 "FROM kept GROUP BY key, label")
        winner = {
            "keep_first": "arg_min(label, first_rn)",
            "majority": "first(label ORDER BY n DESC, first_rn)",   # ties: the label seen first
            "drop": "CASE WHEN count(*) = 1 THEN any_value(label) END",
        }[o.conflict_policy]
        self.sql(f"CREATE TABLE texts AS SELECT key, count(*) AS n_labels, {winner} AS winner "
                 "FROM pairs GROUP BY key")
        report.conflicting_texts = self.one("SELECT count(*) FROM texts WHERE n_labels > 1")[0]
        report.conflict_rows_dropped = int(self.one(
            "SELECT coalesce(sum(p.n), 0) FROM pairs p JOIN texts x USING (key) "
            "WHERE p.label IS DISTINCT FROM x.winner")[0])
        if o.dedup:
            survivors = int(self.one("SELECT coalesce(sum(p.n), 0) FROM pairs p JOIN texts x USING (key) "
                                     "WHERE p.label = x.winner")[0])
            self.long("clean", "CREATE TABLE clean AS SELECT k.* FROM kept k SEMI JOIN "
                     "(SELECT p.first_rn FROM pairs p JOIN texts x USING (key) WHERE p.label = x.winner) w "
                     "ON k.rn = w.first_rn")
            report.rows_out = self.one("SELECT count(*) FROM clean")[0]
            report.duplicate_texts = survivors - report.rows_out
        else:
            self.long("clean", "CREATE TABLE clean AS SELECT k.* FROM kept k JOIN texts x USING (key) "
                     "WHERE k.label = x.winner")
            report.rows_out = self.one("SELECT count(*) FROM clean")[0]
        for table in ("kept", "pairs", "texts"):
            self.sql(f"DROP TABLE {table}")
        self.progress("clean", 100, 100)
        if report.rows_out == 0:
            raise DataError(
                f"no usable rows left after cleaning ({report.rows_in:,} read, {report.empty_text:,} with empty text)",
                path=source, column=text,
            )
        return report

    def _check_labels(self, report: CleanReport, source: str, label: str) -> None:
        non_empty = report.rows_in - report.empty_text
        invalid = sum(report.invalid_labels.values())
        if non_empty and invalid / non_empty > 0.5:
            # the memory engine's message, with the raw value of the first row that has no label
            row, value = self.one("SELECT rn, raw FROM rows WHERE reason IS NOT NULL ORDER BY rn LIMIT 1")
            labels = self.options.labels
            raise DataError(
                f"column holds text, not labels in {{{','.join(labels.values)}}}: "
                f"{invalid:,} of {non_empty:,} rows are invalid, first at row {row}: {str(value)[:40]!r}",
                path=source, column=label, hint=Advice.CHOOSE_LABEL,
            )

    def split(self, has_split_column: bool) -> int:
        """Give every kept row a split (0/1/2) and an order key; return rows left out as leaked."""
        from core.data.split import _SPLIT_ALIASES

        o = self.options
        self.progress("split", 0, 1)
        leaked = 0
        if has_split_column:
            aliases = ", ".join(f"({_lit(k)}, {SPLITS.index(v)})" for k, v in _SPLIT_ALIASES.items())
            self.sql(f"CREATE TABLE aliases AS SELECT * FROM (VALUES {aliases}) a(name, split)")
            bad = self.sql("SELECT DISTINCT c.split_value FROM clean c LEFT JOIN aliases a "
                           "ON lower(trim(c.split_value)) = a.name WHERE a.split IS NULL LIMIT 5").fetchall()
            if bad:
                shown = ", ".join(repr(v) for (v,) in bad if v is not None) or "empty values"
                raise DataError(f"split column {o.split_column!r} has values that are not train/val/test: {shown}",
                                column=o.split_column)
            # a text in two splits stays only in the later one (test over val over train)
            self.sql("CREATE TABLE assigned AS SELECT c.*, a.split, max(a.split) OVER (PARTITION BY c.key) AS best "
                     "FROM clean c JOIN aliases a ON lower(trim(c.split_value)) = a.name")
            leaked = self.one("SELECT count(*) FROM assigned WHERE split < best")[0]
            self.sql("DELETE FROM assigned WHERE split < best")
        else:
            cut = np.cumsum(o.fractions)[:2] * _HASH_RANGE
            self.sql(f"""
                CREATE TABLE assigned AS SELECT *, CASE
                    WHEN h < {int(cut[0])} THEN 0 WHEN h < {int(cut[1])} THEN 1 ELSE 2 END AS split
                FROM clean
            """)
        self.sql("DROP TABLE clean")
        self.progress("split", 1, 1)
        return leaked

    def sample(self) -> None:
        """Mark the rows each split keeps (``take``) by --samples and --balance."""
        from core.data.sample import _fair_share

        o = self.options
        samples = o.samples or {}
        self.sql("ALTER TABLE assigned ADD COLUMN take BOOLEAN DEFAULT true")
        if not samples and o.balance is None:
            return
        self.progress("sample", 0, 1)
        counts = self.sql("SELECT split, label, count(*) FROM assigned GROUP BY split, label").fetchall()
        caps: list[tuple[int, str, int]] = []
        for i, name in enumerate(SPLITS):
            n = samples.get(name)
            have = {label: c for s, label, c in counts if s == i}
            if o.balance is None:
                cap = None if n is None else n
                caps.append((i, "*", -1 if cap is None else cap))
                continue
            if o.balance == "equal":
                per = min(have.values(), default=0)
                if n is not None and have:
                    per = min(per, n // len(have))
                split_caps = dict.fromkeys(have, per)
            else:
                split_caps = {label: min(int(o.balance), c) for label, c in have.items()}
                if n is not None and sum(split_caps.values()) > n:
                    split_caps = _fair_share(split_caps, n)
            caps.extend((i, label, cap) for label, cap in split_caps.items())
        import pandas as pd

        self.con.register("caps_frame", pd.DataFrame(caps, columns=["split", "label", "cap"]))
        if o.balance is None:
            self.sql("""
                UPDATE assigned SET take = r.nr <= c.cap OR c.cap < 0
                FROM (SELECT rn, row_number() OVER (PARTITION BY split ORDER BY o, rn) AS nr FROM assigned) r,
                     caps_frame c
                WHERE assigned.rn = r.rn AND c.split = assigned.split
            """)
        else:
            self.sql("""
                UPDATE assigned SET take = r.nr <= c.cap
                FROM (SELECT rn, row_number() OVER (PARTITION BY split, label ORDER BY o, rn) AS nr
                      FROM assigned) r, caps_frame c
                WHERE assigned.rn = r.rn AND c.split = assigned.split AND c.label = assigned.label
            """)
        self.con.unregister("caps_frame")
        self.progress("sample", 1, 1)

    def batches(self, split_no: int):
        """The split's (text, label position) record batches, in file order."""
        order = "a.pos, a.o, a.rn" if self.options.order == "sorted" else "a.o, a.rn"
        relation = self.con.sql(f"SELECT r.t AS text, a.label, a.pos FROM assigned a JOIN rows r ON r.rn = a.rn "
                                f"WHERE a.split = {int(split_no)} AND a.take ORDER BY {order}")
        reader = getattr(relation, "to_arrow_reader", None) or relation.fetch_record_batch  # DuckDB < 1.4
        return reader(BATCH_ROWS)

    def size(self, split_no: int) -> int:
        return self.one("SELECT count(*) FROM assigned WHERE split = ? AND take", [split_no])[0]


class _SplitWriter:
    """Writes one split's batches with the memory engine's writer; counts tokens on threads."""

    def __init__(self, options: PrepareOptions, counter) -> None:
        self.options = options
        self.counter = counter
        self.suffix = options.separator if options.format == "completion" else ""

    def write(self, path: Path, reader, total: int, name: str, progress: ProgressFn):
        import hashlib

        from core.atomic import atomic_open
        from core.data.write import iter_jsonl_chunks

        o = self.options
        digest, size, done = hashlib.sha256(), 0, 0
        positions: list[np.ndarray] = []
        pending: deque = deque()
        counts: list[np.ndarray] = []
        with atomic_open(path, "wb", private=False) as fh:  # the user's build folder
            for batch in reader:
                frame = batch.select(["text", "label"]).to_pandas()
                if self.counter is not None:
                    while len(pending) >= MAX_PENDING_COUNTS:  # keep only a few batches of texts queued
                        counts.extend(f.result() for f in pending.popleft())
                    pending.append(self.counter.submit(frame["text"].tolist(), self.suffix))
                positions.append(batch.column("pos").to_numpy().astype(np.int16))
                for chunk in iter_jsonl_chunks(frame, o.format, system_prompt=o.system_prompt,
                                               separator=o.separator, stop=o.stop):
                    digest.update(chunk)
                    size += len(chunk)
                    fh.write(chunk)
                done += batch.num_rows
                progress(f"write {name}", done, total)
        while pending:
            counts.extend(f.result() for f in pending.popleft())
        codes = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int16)
        tokens = np.concatenate(counts) if counts else np.zeros(0, dtype=np.int64)
        return digest.hexdigest(), size, codes, tokens


def prepare_duckdb(
    source: str | Path,
    out_dir: str | Path,
    options: PrepareOptions | None = None,
    progress: ProgressFn | None = None,
    *,
    checks: WriteChecks | None = None,
) -> BuildResult:
    """Build ``out_dir`` like core.data.pipeline.prepare, out of core (see the module's note)."""
    import pandas as pd

    from core.data.build_dir import build_folder
    from core.data.load import file_fingerprint
    from core.data.notices import record_notices
    from core.data.pipeline import (MANIFEST, BuildResult, PrepareOptions, WriteChecks, _manifest, preload_encoding,
                                    tokens_note)
    from core.data.write import manifest_bytes, write_file

    checks = checks or WriteChecks()
    validate, model, count_tokens = checks.validate, checks.model, checks.count_tokens
    options = options or PrepareOptions()
    progress = progress or null_progress
    options.check()
    path = Path(str(source)).expanduser()
    if not path.exists():
        raise DataError("file not found", path=path, hint="--engine duckdb reads local files only")
    if path.is_dir():
        raise DataError("is a directory, not a dataset file", path=path)
    fmt = _input_format(path)
    if path.stat().st_size == 0:
        raise DataError("file is empty", path=path)
    if fmt != "parquet" and _binary(path):
        # the memory engine's own refusal; DuckDB would buffer a file of zero bytes before reading no rows
        raise DataError(f"binary data, not {fmt.upper()} text", path=path)
    counting = validate and count_tokens
    encoding = preload_encoding(options.format, model) if counting else None
    out = Path(out_dir).expanduser()
    files, digests, sizes, frames, validation = {}, {}, {}, {}, {}
    counter = None
    with build_folder(out) as work:
        # DuckDB's database and spill files live inside the build folder being written: beside the
        # output (same disk), removed before the swap, and cleaned by the next run if this one is killed
        scratch = work / ".duckdb"
        scratch.mkdir()
        con = _connect(scratch)
        try:
            with _duckdb_errors(path, scratch):
                run = _Run(con, options, progress)
                names = run.load(path, fmt)
                text, label, split = run.columns(names, str(path))
                report = run.clean(names, text, label, split, str(path))
                leaked = run.split(split is not None)
                run.sample()
                if encoding is not None:
                    from core.validation.tokens import ParallelCounter

                    counter = ParallelCounter(encoding.result())
                writer = _SplitWriter(options, counter)
                tokens = {}
                for i, name in enumerate(SPLITS):
                    files[name] = out / f"{name}.jsonl"
                    total = run.size(i)
                    digests[name], sizes[name], codes, tokens[name] = writer.write(
                        work / files[name].name, run.batches(i), total, name, progress)
                    frames[name] = pd.DataFrame({"label": pd.Categorical.from_codes(
                        codes, categories=list(options.labels.values))})
        finally:
            con.close()
            if counter is not None:
                counter.close()
            shutil.rmtree(scratch, ignore_errors=True)
        source_info = {
            "source": str(path), "format": fmt, "fingerprint": file_fingerprint(path, progress),
            "rows": report.rows_in, "text_column": text, "label_column": label, "split_column": split,
        }
        manifest = _manifest(source_info, options, report, leaked, frames, files, digests, sizes)
        manifest["engine"] = "duckdb"
        record_notices(manifest, None, options.labels)
        if validate:
            from core.validation.validate import validate_built

            for name, frame in frames.items():
                if not len(frame):
                    continue
                progress("tokens", 0, len(frame))
                validation[name] = validate_built(
                    files[name], frame["label"].astype(object), tokens[name] if counting else None, options.format,
                    model=model,
                    system_prompt=options.system_prompt, separator=options.separator, stop=options.stop,
                )
                progress("tokens", len(frame), len(frame))
            manifest["tokens"] = tokens_note(counting)
        if validation and counting:   # the launch prices from these, as from the memory engine's (one schema)
            from core.data.pipeline import token_summary

            manifest["validation"] = {name: token_summary(r, digests[name]) for name, r in validation.items()}
        write_file(work / MANIFEST, manifest_bytes(manifest))
    return BuildResult(out, files, manifest, report, frames, validation)
