"""The cleaned rows with their texts, as the tests read them (the product moves keys and takes texts late)."""

from __future__ import annotations

from core.data.clean import clean_keys, take_texts


def clean(frame, text_column: str, label_column: str, labels, **how):
    """(kept rows with columns text/label/row/group, report): ``clean_keys`` with each row's text beside it."""
    rows, texts, report = clean_keys(frame, text_column, label_column, labels, **how)
    rows.insert(0, "text", take_texts(texts, rows["row"].to_numpy()))
    return rows, report
