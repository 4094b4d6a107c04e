"""Launch options from text: one rule per field for the command line and the app (core/launch_options.py)."""

from __future__ import annotations

import pytest

from core.errors import ConfigError
from core.launch_options import options_from_strings

REFUSED = [
    (dict(n_epochs="0"), "--epochs '0': auto, or a whole number from 1 to 50"),
    (dict(n_epochs="three"), "--epochs 'three': auto, or a whole number from 1 to 50"),
    (dict(batch_size="300"), "--batch-size '300': auto, or a whole number from 1 to 256"),
    (dict(learning_rate_multiplier="nan"),
     "--lr-multiplier 'nan': auto, or a number above 0 and at most 100 (e.g. 0.5 or 2)"),
    (dict(learning_rate_multiplier="-1"),
     "--lr-multiplier '-1': auto, or a number above 0 and at most 100 (e.g. 0.5 or 2)"),
    (dict(learning_rate_multiplier="500"),
     "--lr-multiplier '500': auto, or a number above 0 and at most 100 (e.g. 0.5 or 2)"),
    (dict(suffix="x" * 65), f"--suffix '{'x' * 65}': at most 64 characters (65 now)"),
    (dict(seed="-3"), f"--job-seed '-3': a whole number from 0 to {2**31 - 1}"),
    (dict(seed=str(2**31)), f"--job-seed '{2**31}': a whole number from 0 to {2**31 - 1}"),
    (dict(seed="9" * 5000), f"--job-seed '{'9' * 5000}': a whole number from 0 to {2**31 - 1}"),
    (dict(max_cost="-1"), "--max-cost '-1': a number of dollars, 0 or more"),
    (dict(max_cost="inf"), "--max-cost 'inf': a number of dollars, 0 or more"),
    (dict(class_weight="heavy"), "--class-weight 'heavy': auto or none or balanced"),
    (dict(training_type="cheap"), "--azure-training-type 'cheap': Standard or GlobalStandard or Developer"),
]


@pytest.mark.parametrize(("typed", "line"), REFUSED)
def test_each_refused_value_is_one_line_naming_its_flag(typed, line):
    with pytest.raises(ConfigError) as info:
        options_from_strings(**typed)
    assert str(info.value) == line


def test_typed_values_become_typed_options():
    options = options_from_strings(
        model=" gpt-4o-mini ", n_epochs="3", batch_size="auto", learning_rate_multiplier="0.5", class_weight="Balanced",
        suffix=" mine ", seed="7", max_cost="2.5", wandb_project="p", training_type="developer")
    assert (options.model, options.n_epochs, options.batch_size, options.learning_rate_multiplier) == (
        "gpt-4o-mini", 3, "auto", 0.5)
    assert (options.class_weight, options.suffix, options.seed, options.max_cost) == ("balanced", "mine", 7, 2.5)
    assert options.integrations == [{"type": "wandb", "wandb": {"project": "p"}}]
    assert options.training_type == "Developer"
    blank = options_from_strings(model="", n_epochs="", batch_size=None, learning_rate_multiplier=" ", suffix="",
                                        seed="", max_cost="")
    assert (blank.model, blank.n_epochs, blank.batch_size, blank.learning_rate_multiplier) == (None, "auto", "auto",
                                                                                               "auto")
    assert (blank.suffix, blank.seed, blank.max_cost) == (None, None, None)


def test_the_command_line_refuses_by_the_same_rules_before_anything_else(run_cli, tmp_path):
    train = tmp_path / "train.jsonl"
    train.write_text("")
    for flags, flag in ((("--job-seed", "-1"), "--job-seed"), (("--max-cost", "-1"), "--max-cost"),
                        (("--suffix", "y" * 70), "--suffix"), (("--epochs", "x"), "--epochs")):
        result = run_cli("launch", train, *flags)
        assert result.exit_code == 2, flags
        line = result.stderr.strip()
        assert line.startswith(f"startune: error: {flag} ") and "\n" not in line, line


def test_rerun_reads_its_typed_values_by_the_same_rules(run_cli):
    result = run_cli("rerun", "no-such-run", "--backend", "local", "--suffix", "z" * 65)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"startune: error: --suffix '{'z' * 65}': at most 64 characters (65 now)"


async def test_launch_itself_refuses_a_setting_the_backend_does_not_have(local_client, plain_build, tmp_path):
    """The app and `rerun` reach launch() without the command line's early check: the rule is launch()'s too."""
    from core.jobs.backends import BackendChoice
    from core.jobs.launch import launch
    from core.registry.db import Registry

    registry = Registry(tmp_path / "r.sqlite3")
    options = options_from_strings(training_type="Developer")
    with pytest.raises(ConfigError, match="--azure-training-type is for Azure OpenAI, not the local backend"):
        await launch(local_client, plain_build, options, choice=BackendChoice("local"), registry=registry)
    assert registry.list_runs() == [] and (await local_client.files.list()).data == []


@pytest.fixture
def plain_build(sample_csv, tmp_path):
    from core.data.pipeline import PrepareOptions, prepare

    return prepare(sample_csv, tmp_path / "b", PrepareOptions(samples={"train": 40, "val": 10, "test": 10})).out_dir
