"""CSV dialects as spreadsheets export them, and the one broken quote that swallows rows."""

import pytest

from core.data.load import load_dataset
from core.errors import DataError

ROWS = [("Great value, would buy again", "5"), ("Broke after a week; very sad", "1"),
        ("Fine | nothing special", "3"), ("Not bad, not good", "3")]


def _write(path, sep, header=("review", "rating"), rows=ROWS):
    import csv

    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=sep)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"], ids=["comma", "semicolon", "tab", "pipe"])
def test_the_delimiter_is_detected(tmp_path, sep):
    ds = load_dataset(_write(tmp_path / "reviews.csv", sep))
    assert (ds.text_column, ds.label_column) == ("review", "rating")
    assert list(ds.frame["review"]) == [t for t, _ in ROWS]
    assert list(ds.frame["rating"]) == [s for _, s in ROWS]


def test_a_semicolon_file_builds_with_the_out_of_core_engine(tmp_path, sample_csv):
    import pandas as pd

    from core.data.outofcore import prepare_duckdb
    from core.data.pipeline import PrepareOptions

    path = tmp_path / "reviews.csv"
    pd.read_csv(sample_csv, dtype=str).to_csv(path, sep=";", index=False)
    result = prepare_duckdb(path, tmp_path / "out", PrepareOptions(), lambda *a: None)
    assert sum(split["examples"] for split in result.manifest["splits"].values()) > 1000


def test_a_comma_file_whose_texts_hold_semicolons_stays_a_comma_file(tmp_path):
    rows = [(f"part one; part two; part {i}", str(1 + i % 5)) for i in range(20)]
    ds = load_dataset(_write(tmp_path / "reviews.csv", ",", rows=rows))
    assert list(ds.frame.columns) == ["review", "rating"]
    assert ds.frame["review"].iloc[3] == "part one; part two; part 3"


@pytest.mark.parametrize("name", ["sentiment", "Sentiment", "review_sentiment", "stars", "score", "label"])
def test_a_sentiment_like_column_is_the_default_label(tmp_path, name):
    ds = load_dataset(_write(tmp_path / "reviews.csv", ";", header=("text", name)))
    assert (ds.text_column, ds.label_column) == ("text", name)


def test_an_unterminated_quote_that_swallows_rows_names_the_row_it_opens_in(tmp_path):
    lines = ["review,rating", "good,5", "fine,4", '"this quote never closes,2']
    lines += [f"row number {i},{1 + i % 5}" for i in range(10)]
    lines += ['"properly quoted",1'] + [f"later {i},{1 + i % 5}" for i in range(10)]  # the next quote closes the open one: the reader sees no error
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message and "row 3" in message and "never closed" in message


def test_a_quote_never_closed_to_the_end_of_the_file_names_its_row(tmp_path):
    lines = ["review,rating", "good,5", "fine,4", '"this quote never closes,2'] + [f"row {i},3" for i in range(10)]
    path = tmp_path / "reviews.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_dataset(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "row 3" in message, message


def test_a_review_with_a_few_quoted_newlines_is_kept(tmp_path):
    rows = [("line one\nline two\nline three", "4"), ("plain", "2")]
    ds = load_dataset(_write(tmp_path / "reviews.csv", ",", rows=rows))
    assert ds.frame["review"].iloc[0] == "line one\nline two\nline three"


def test_a_review_of_paragraphs_with_commas_is_not_taken_for_swallowed_rows(tmp_path):
    text = "\n".join(f"Paragraph {i}, with a comma" for i in range(6))
    rows = [(text, "4"), ("plain", "2"), ("other", "5")]
    ds = load_dataset(_write(tmp_path / "reviews.csv", ",", rows=rows))
    assert ds.frame["review"].iloc[0] == text
