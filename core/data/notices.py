"""What a build did that the user did not ask for, recorded in its manifest and shown as warnings:
fewer examples than --samples asked, many rows dropped as unusable (usually the wrong label column
or label set), and which other column looks like the label then."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.records.manifest import BuildManifest, SampleCount, SplitInfo

if TYPE_CHECKING:
    import pandas as pd

    from core.data.labels import LabelSet

DROP_WARN_SHARE = 0.05      # unusable rows above this share of the input get a loud warning
MAX_LABEL_VALUES = 100      # a column with more distinct values than this is no label column


def sample_counts(requested: dict[str, int] | None, splits: dict[str, SplitInfo]) -> dict[str, SampleCount]:
    """Per split asked to be sampled: requested and written example counts."""
    return {name: {"requested": n, "written": splits[name]["examples"] if name in splits else 0}
            for name, n in (requested or {}).items()}


def likely_label_column(frame: pd.DataFrame, labels: LabelSet, exclude: tuple[str, ...]) -> tuple[str, float] | None:
    """(column, share of valid labels) of the column whose values best fit the label set."""
    from core.data.clean import normalise_labels

    best = None
    for col in frame.columns:
        if col in exclude:
            continue
        values = frame[col]
        try:
            if values.nunique(dropna=True) > MAX_LABEL_VALUES:
                continue
        except TypeError:  # unhashable cells (lists, dicts from JSON)
            continue
        _, reason = normalise_labels(values.astype("string"), labels)
        share = float(reason.isna().mean())
        if best is None or share > best[1]:
            best = (str(col), share)
    return best if best and best[1] > 0 else None


def build_warnings(manifest: BuildManifest, frame: pd.DataFrame | None = None, labels: LabelSet | None = None) -> list[str]:
    warnings = []
    for name, counts in (manifest.get("samples") or sample_counts(
            (manifest.get("options") or {}).get("samples"), manifest.get("splits") or {})).items():
        if counts["requested"] is not None and counts["written"] < counts["requested"]:
            warnings.append(f"--samples asked for {name}={counts['requested']:,} but only {counts['written']:,} "
                            f"usable examples were available; {name}.jsonl has {counts['written']:,}")
    splits = manifest.get("splits") or {}
    empty = [name for name in ("val", "test") if name in splits and not splits[name].get("examples")]
    if empty and "train" in splits and splits["train"].get("examples"):
        fractions = ",".join(f"{f:g}" for f in (manifest.get("options") or {}).get("fractions") or [])
        files = " and ".join(f"{name}.jsonl" for name in empty)
        warnings.append(f"{files} {'are' if len(empty) > 1 else 'is'} empty (--split {fractions}): "
                        f"{'no validation for early stopping' if 'val' in empty else ''}"
                        f"{', ' if len(empty) > 1 else ''}{'no test split to evaluate on' if 'test' in empty else ''}")
    c = manifest.get("cleaning") or {}
    rows_in = c.get("rows_in") or 0
    invalid = {k: v for k, v in (c.get("invalid_labels") or {}).items() if v}
    unusable = sum(invalid.values()) + (c.get("empty_text") or 0)
    if rows_in and unusable / rows_in > DROP_WARN_SHARE:
        source = manifest.get("input") or {}
        reasons = [f"{k.replace('_', ' ')} {v:,}" for k, v in invalid.items()]
        if c.get("empty_text"):
            reasons.append(f"empty text {c['empty_text']:,}")
        allowed = ",".join(map(str, (manifest.get("options") or {}).get("labels") or []))
        text = (f"{unusable:,} of {rows_in:,} rows ({unusable / rows_in:.1%}) were dropped as unusable "
                f"({', '.join(reasons)}); label column {source.get('label_column')!r}, labels {allowed}")
        if frame is not None and labels is not None and invalid:
            used = source.get("label_column")
            other = likely_label_column(frame, labels, tuple(c for c in (used, source.get("text_column")) if c))
            if other is not None:
                text += f"; column {other[0]!r} looks like the label ({other[1]:.0%} of its values are valid)"
        warnings.append(text + ": check --label-column and --labels")
    return warnings


def record_notices(manifest: BuildManifest, frame: pd.DataFrame, labels: LabelSet) -> None:
    """Add the real sample counts and the build's warnings to its manifest."""
    manifest["samples"] = sample_counts((manifest.get("options") or {}).get("samples"), manifest["splits"])
    manifest["warnings"] = build_warnings(manifest, frame, labels)
