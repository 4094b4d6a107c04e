"""Decisions about flagged rows (relabel, keep, drop), saved beside the dataset and applied by prepare.

The user's file is never edited: a small JSON file keyed by input row and a hash of the row's
stripped text holds the decisions. prepare applies them to the cleaned rows and refuses a file whose
rows no longer hold the texts decided on (the dataset changed since the audit).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd

    from core.data.clean import Texts
    from core.data.labels import LabelSet

Action = Literal["relabel", "keep", "drop"]
ACTIONS: tuple[Action, ...] = ("relabel", "keep", "drop")
SUFFIX = ".startune-corrections.json"
VERSION = 1


def text_hash(text: str) -> str:
    """The key a decision holds of its row's text (the stripped text, as cleaning compares it)."""
    import xxhash

    return xxhash.xxh3_64_hexdigest(text.strip().encode("utf-8"))


@dataclass
class Decision:
    row: int
    text_hash: str
    given: str
    action: Action
    label: str | None = None   # the new label of a relabel


@dataclass
class Corrections:
    source: str = ""
    fingerprint: str = ""
    decisions: dict[int, Decision] = field(default_factory=dict)
    path: str = ""   # the file it was read from (what the manifest names)

    def decide(self, row: int, text: str, given: str, action: Action, label: str | None = None) -> None:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        self.decisions[row] = Decision(row, text_hash(text), given, action, label if action == "relabel" else None)

    def undo(self, row: int) -> None:
        self.decisions.pop(row, None)

    def to_bytes(self) -> bytes:
        import orjson

        return orjson.dumps({"version": VERSION, "source": self.source, "fingerprint": self.fingerprint,
                             "decisions": [asdict(d) for d in sorted(self.decisions.values(), key=lambda d: d.row)]},
                            option=orjson.OPT_INDENT_2)

    def save(self, path: Path) -> None:
        from core.atomic import write_bytes

        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | Path) -> Corrections:
        import orjson

        path = Path(path).expanduser()
        try:
            data = orjson.loads(path.read_bytes())
        except FileNotFoundError:
            raise DataError("corrections file not found", path=path) from None
        except orjson.JSONDecodeError as exc:
            raise DataError(f"not a corrections file: {exc}", path=path) from None
        if not isinstance(data, dict) or not isinstance(data.get("decisions"), list):
            raise DataError("not a corrections file: no list of decisions", path=path)
        out = cls(str(data.get("source", "")), str(data.get("fingerprint", "")), path=str(path))
        for i, d in enumerate(data["decisions"], 1):
            try:
                decision = Decision(int(d["row"]), str(d["text_hash"]), str(d["given"]), d["action"], d.get("label"))
            except (KeyError, TypeError, ValueError):
                raise DataError(f"decision {i} needs row, text_hash, given and action", path=path) from None
            if decision.action not in ACTIONS or (decision.action == "relabel" and not decision.label):
                raise DataError(f"decision {i} (row {decision.row}): action must be relabel (with a label), keep "
                                "or drop", path=path)
            out.decisions[decision.row] = decision
        return out

    def sha256(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


def beside(source: str) -> Path:
    return Path(source).expanduser().with_name(Path(source).name + SUFFIX)


def fallback(source: str) -> Path:
    """Where decisions go when the dataset's folder is not writable (or the source is no file)."""
    from core.paths import data_dir

    key = hashlib.sha256(str(Path(source).expanduser().resolve() if not source.startswith("hf:") else source)
                         .encode()).hexdigest()[:12]
    name = Path(source).name if not source.startswith("hf:") else source[3:].replace("/", "_")
    return data_dir() / "corrections" / f"{name}-{key}.json"


def corrections_path(source: str) -> Path:
    """Where the decisions about ``source`` are kept: beside it when its folder is writable, else in
    startune's data folder (the app says which)."""
    if not source.startswith("hf:"):
        here = beside(source)
        if here.exists() or os.access(here.parent, os.W_OK):
            return here
    return fallback(source)


def load_for(source: str) -> tuple[Corrections, Path]:
    """The saved decisions about ``source`` (empty when none), and where they are kept."""
    path = corrections_path(source)
    if not path.exists() and fallback(source).exists():
        path = fallback(source)
    if path.exists():
        return Corrections.load(path), path
    return Corrections(), path


def apply_corrections(cleaned: pd.DataFrame, texts: Texts, corrections: Corrections,
                      labels: LabelSet) -> tuple[pd.DataFrame, dict]:
    """The cleaned rows (label/row/group) with the decisions applied, and what the manifest records:
    the rows relabelled and dropped, the keeps, and the decided rows cleaning had removed already."""
    decisions = list(corrections.decisions.values())
    path = corrections.path
    n_rows = len(texts)
    for d in decisions:
        if d.action == "relabel" and d.label not in labels.values:
            raise DataError(f"row {d.row}: label {d.label!r} is not one of {','.join(labels.values)}", path=path)
        if not 1 <= d.row <= n_rows:
            raise DataError(f"row {d.row}: the dataset has {n_rows:,} rows (the dataset changed since the audit?)",
                            path=path, hint="run startune audit again")
    if decisions:
        decided_rows = np.array([d.row for d in decisions], dtype=np.int64)
        for d, text in zip(decisions, texts.take(decided_rows - 1), strict=True):
            if text_hash(text) != d.text_hash:
                raise DataError(f"row {d.row}: its text is not the one decided on (the dataset changed since the "
                                "audit)", path=path, hint="run startune audit again, or build without corrections")
    by_row = {d.row: d for d in decisions}
    rows = cleaned["row"].to_numpy()
    present = set(rows.tolist())
    relabel = {d.row: d.label for d in decisions if d.action == "relabel" and d.row in present}
    drop = {d.row for d in decisions if d.action == "drop" and d.row in present}
    out = cleaned
    if relabel:
        dtype = cleaned["label"].dtype
        values = cleaned["label"].to_numpy(dtype=object).copy()
        at = np.flatnonzero(np.isin(rows, list(relabel)))
        values[at] = [relabel[r] for r in rows[at]]
        out = out.assign(label=pd_series(values, dtype))
    if drop:
        out = out[~np.isin(rows, list(drop))].reset_index(drop=True)
    summary = {
        "file": str(path), "sha256": corrections.sha256(), "decisions": len(decisions),
        "relabelled": sorted(relabel), "dropped": sorted(drop),
        "kept": sorted(d.row for d in decisions if d.action == "keep" and d.row in present),
        "not_in_build": sorted(r for r in by_row if r not in present),
    }
    return out, summary


def pd_series(values, dtype):
    import pandas as pd

    return pd.Series(values, dtype=dtype)
