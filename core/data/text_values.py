"""Which values of the text column are reviews.

JSON, JSONL and Parquet inputs carry typed values, and turning each into ``str(value)`` put Python
reprs into the training data (``{'a': 1}``, ``True``). The rule:

- a string is the review, as written;
- a number (not a boolean) is read as its digits (``123`` -> ``"123"``, ``1.5`` -> ``"1.5"``, ``7.0`` -> ``"7"``),
  which is what the same value gives in a CSV;
- null (or NaN) is an empty text, which cleaning drops and counts;
- an object, a list or a boolean is not a review: the file is refused with one line that counts
  such values by kind and names the first row, so the user picks another column or fixes the data.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


def _kind(value) -> str:
    import numpy as np

    if value is None:
        return "missing"
    if isinstance(value, str):
        return "text"
    if isinstance(value, (bool, np.bool_)):
        return "boolean"
    if isinstance(value, (int, np.integer)):
        return "number"
    if isinstance(value, (float, np.floating)):
        return "missing" if math.isnan(value) else "number"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (list, tuple, np.ndarray)):
        return "list"
    try:
        import pandas as pd

        if value is pd.NA or value is pd.NaT:
            return "missing"
    except ImportError:  # pragma: no cover
        pass
    return type(value).__name__


def _number_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def as_text(raw: pd.Series, *, path: str | Path | None = None, column: str | None = None) -> pd.Series:
    """The column as pandas strings by the rule above (missing values as ""), or a DataError."""
    import pandas as pd
    from pandas.api.types import infer_dtype

    if isinstance(raw.dtype, pd.StringDtype):
        return raw
    inferred = infer_dtype(raw, skipna=True)
    if inferred in ("string", "empty"):  # the common case stays vectorised
        return raw.astype("string").fillna("")
    values = raw.tolist()
    kinds = [_kind(v) for v in values]
    refused = [i for i, k in enumerate(kinds) if k not in ("text", "number", "missing")]
    if refused:
        counts: dict[str, int] = {}
        for i in refused:
            counts[kinds[i]] = counts.get(kinds[i], 0) + 1
        first = refused[0]
        listing = ", ".join(f"{n:,} {kind}" for kind, n in sorted(counts.items(), key=lambda kv: -kv[1]))
        raise DataError(f"{len(refused):,} of {len(values):,} values are not text ({listing}); "
                        f"first: {str(values[first])[:60]}", path=path, row=first + 1, column=column,
                        hint="reviews must be strings (numbers are read as their digits): "
                             "choose another --text-column or fix these rows")
    out = [v if k == "text" else (_number_text(v) if k == "number" else "") for v, k in zip(values, kinds)]
    return pd.Series(out, index=raw.index, dtype="string")
