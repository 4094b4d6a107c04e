"""prepare's reports, made from memory, are the reports validate_file gives on the files it wrote."""

from __future__ import annotations

import pytest

from core.data.pipeline import PrepareOptions, WriteChecks, prepare
from core.validation.validate import validate_file


def _same(built, read):
    a, b = built.to_dict(), read.to_dict()
    assert a == b


@pytest.mark.parametrize(("options", "model"), [
    (PrepareOptions(), None),
    (PrepareOptions(system_prompt="Rate the review from 1 to 5.", order="sorted"), "gpt-3.5-turbo"),
    (PrepareOptions(format="completion", stop="\n"), None),
    (PrepareOptions(format="completion", separator=" ->"), "startune-local"),
    (PrepareOptions(system_prompt="   "), "gpt-4.1-mini"),  # a blank system message is an error on every line
])
def test_reports_from_memory_equal_reports_from_the_files(threads_csv, tmp_path, options, model):
    result = prepare(threads_csv, tmp_path / "b", options, checks=WriteChecks(validate=True, model=model))
    assert set(result.validation) == {"train", "val", "test"}
    for name, report in result.validation.items():
        _same(report, validate_file(result.files[name], model))
    train = result.validation["train"]
    if options.system_prompt == "   ":
        assert train.error_counts == {"missing_content": train.n_examples} and train.errors[0].line == 1
    else:  # exact token counts: the totals are those of the files, counted line by line
        assert train.ok and train.token_stats["total"] > train.n_examples


def test_small_splits_and_long_examples(threads_csv, tmp_path):
    options = PrepareOptions(samples={"train": 9, "val": 3, "test": 0})
    result = prepare(threads_csv, tmp_path / "b", options, checks=WriteChecks(validate=True, model="gpt-3.5-turbo"))
    assert set(result.validation) == {"train", "val"}  # an empty file gets no report, as before
    for name, report in result.validation.items():
        _same(report, validate_file(result.files[name], "gpt-3.5-turbo"))
        assert report.error_counts == {"too_few_examples": 1}


def test_prices_from_the_report_prepare_made_without_reading_the_file(sample_csv, tmp_path):
    from core.errors import DataError
    from core.validation.validate import cost_by_model

    result = prepare(sample_csv, tmp_path / "b", checks=WriteChecks(validate=True))
    known = result.validation["train"]
    gone = tmp_path / "not-there.jsonl"  # read only for a tokenizer the report was not made with
    report, costs = cost_by_model(gone, ("gpt-4o-mini", "gpt-4o", "startune-local"), known=known)
    assert report is known
    assert [c.billed_tokens_per_epoch for c in costs] == [known.billed_tokens_per_epoch] * 3
    with pytest.raises(DataError):
        cost_by_model(gone, ("gpt-4o-mini", "gpt-3.5-turbo"), known=known)
    read_back, _ = cost_by_model(result.files["train"], ("gpt-4o-mini",))
    assert read_back.to_dict() == known.to_dict()
