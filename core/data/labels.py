"""The label set a dataset is mapped onto, and vectorised normalisation of raw label values."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.choices import MAX_LABELS

if TYPE_CHECKING:
    import pandas as pd

# Why a row's label was rejected; the keys of the cleaning report.
MISSING, NON_NUMERIC, NON_INTEGER, OUT_OF_RANGE, UNKNOWN = (
    "missing_label",
    "non_numeric_label",
    "non_integer_label",
    "out_of_range_label",
    "unknown_label",
)

_INT_RE = re.compile(r"^-?\d+$")


@dataclass(frozen=True)
class LabelSet:
    """Allowed labels, written as strings. Default: the integers 1..5."""

    values: tuple[str, ...] = ("1", "2", "3", "4", "5")

    @classmethod
    def parse(cls, spec: str | None) -> LabelSet:
        """'1-5', '1,2,3', 'negative,neutral,positive' -> a LabelSet."""
        if not spec:
            return cls()
        spec = spec.strip()
        from core.errors import ConfigError

        m = re.fullmatch(r"(-?\d+)\s*-\s*(-?\d+)", spec)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if lo > hi:
                raise ConfigError(f"label range {spec!r} is reversed", hint=f"write {hi}-{lo}")
            count = hi - lo + 1
        else:
            values = tuple(v.strip() for v in spec.split(",") if v.strip())
            count = len(values)
        if count > MAX_LABELS:
            raise ConfigError(f"label set {spec!r} has {count:,} labels; at most {MAX_LABELS} can be "
                              "learned as classes")
        if count < 2:
            raise ConfigError(f"label set {spec!r} needs at least two labels", hint="e.g. 1-5 or neg,pos")
        return cls(tuple(str(i) for i in range(lo, hi + 1)) if m else values)

    @property
    def numeric(self) -> bool:
        return all(_INT_RE.match(v) for v in self.values)

    def index(self, label: str) -> int:
        return self.values.index(label)

    def normalise_series(self, raw: pd.Series) -> tuple[pd.Series, pd.Series]:
        """Vectorised: (labels as str or NA, reason codes as str or NA) for every row."""
        import numpy as np
        import pandas as pd

        text = raw.astype("string").str.strip()
        missing = text.isna() | (text == "")
        reason = pd.Series(pd.NA, index=raw.index, dtype="string")
        reason[missing] = MISSING
        if self.numeric:
            num = pd.to_numeric(text.where(~missing), errors="coerce")
            non_numeric = ~missing & num.isna()
            finite = num.notna() & np.isfinite(num.astype("float64").fillna(0))
            non_integer = finite & (num.astype("float64") % 1 != 0)
            as_int = num.where(finite & ~non_integer)
            allowed = {int(v) for v in self.values}
            in_range = as_int.isin(list(allowed))
            out_of_range = as_int.notna() & ~in_range
            reason[non_numeric | (num.notna() & ~finite)] = NON_NUMERIC
            reason[non_integer] = NON_INTEGER
            reason[out_of_range] = OUT_OF_RANGE
            labels = pd.Series(pd.NA, index=raw.index, dtype="string")
            ok = in_range.fillna(False).astype(bool)
            labels[ok] = as_int[ok].astype("int64").astype(str)
        else:
            allowed_set = set(self.values)
            ok = ~missing & text.isin(allowed_set)
            reason[~missing & ~ok] = UNKNOWN
            labels = text.where(ok)
        return labels.astype("string"), reason
