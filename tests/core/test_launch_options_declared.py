"""Every launch option is declared once (core/launch_options.py): the command line's flags, the Launch screen's
fields and the local backend's request check all take exactly what the declaration takes, and a seed has one
rule wherever it is typed or sent."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import ConfigError
from core.launch_options import BY_NAME, HYPERPARAMETERS, OPTIONS, OptionRefused

TYPED = [o for o in OPTIONS if o.flag and o.kind not in ("switch",)]
# what people type near the limits, and what they should not
numbers = st.one_of(st.integers(-10**6, 10**6), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from([0, 1, 50, 51, 100, 100.0, 100.0001, 256, 257, 2**31 - 1, 2**31, 1e-300]))
texts = st.one_of(numbers.map(str), st.sampled_from(["", " ", "auto", "AUTO", " 3 ", "3.0", "1e2", "0x10", "²",
                                                     "none", "Balanced", "developer", "x" * 64, "x" * 65]),
                  st.text(max_size=80))


def _front_end_accepts(option, text: str) -> bool:
    try:
        option.parse(text)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(f"{option.flag} ")
        return False
    return True


def _command_line_accepts(option, text: str, train) -> bool:
    """The flag as `startune launch` parses it: click's own types, then the launch options' rules."""
    import click

    from core.cli.job_cmds import build_launch_options, launch_cmd

    try:
        context = launch_cmd.make_context("launch", [str(train), option.flag, text])
        build_launch_options(**context.params)
    except (click.BadParameter, ConfigError):
        return False
    return True


def _screen_accepts(option, text: str) -> bool:
    from tui.screens.launch import option_validators

    return all(v.validate(text).is_valid for v in option_validators(option))


@pytest.fixture(scope="module")
def train(tmp_path_factory):
    path = tmp_path_factory.mktemp("launch") / "train.jsonl"
    path.write_text("")
    return path


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(TYPED), text=texts)
def test_the_command_line_and_the_launch_screen_take_what_the_declaration_takes(option, text, train):
    if "\x00" in text:
        return  # not something a terminal passes as an argument
    accepted = _front_end_accepts(option, text)
    assert _command_line_accepts(option, text, train) == accepted
    if option.label and option.kind != "choice":   # the screen offers a choice's words, nothing to type
        assert _screen_accepts(option, text) == accepted


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(sorted(HYPERPARAMETERS)), value=st.one_of(numbers, st.sampled_from(
    ["auto", None, True, False, "none", "balanced", "fast"])))
def test_the_local_backend_takes_exactly_what_the_front_ends_take(name, value):
    """A value sent in a job request passes the backend's check exactly when the declaration takes it, and a
    number the front ends accept typed is one the backend accepts sent."""
    from core.backend.errors import ApiError
    from core.backend.requests import check_hyperparameters

    option = HYPERPARAMETERS[name]
    try:
        option.check(value)
        declared = True
    except OptionRefused:
        declared = False
    try:
        check_hyperparameters({name: value}, "hyperparameters")
        backend = True
    except ApiError as exc:
        backend = False
        assert option.rule in exc.message  # the backend states the limit it applies
    assert backend == declared
    if option.flag and isinstance(value, (int, float)) and not isinstance(value, bool) and option.kind != "choice":
        assert _front_end_accepts(option, str(value)) == declared


@settings(max_examples=100, deadline=None)
@given(value=st.one_of(st.integers(), st.sampled_from([-1, 0, 2**31 - 1, 2**31, 10**20])))
def test_a_seed_has_one_rule_on_prepare_the_build_screen_the_launch_screen_and_the_backend(value):
    from core.backend.errors import ApiError
    from core.backend.requests import check_create_job
    from core.seed import parse_seed
    from tui.screens.build import check_seed

    text = str(value)
    answers = []
    for check in (lambda: parse_seed(text), lambda: check_seed(text), lambda: BY_NAME["seed"].parse(text)):
        try:
            check()
            answers.append(True)
        except ConfigError:
            answers.append(False)
    try:
        check_create_job({"model": "m", "training_file": "file-1", "seed": value})
        answers.append(True)
    except ApiError:
        answers.append(False)
    assert answers == [0 <= value <= 2**31 - 1] * 4


def test_a_new_option_is_a_launch_options_field_a_flag_and_a_screen_field_without_another_edit():
    """What the declarations build: LaunchOptions' fields, the flags of launch and run, the Launch screen's fields."""
    import dataclasses

    from core.cli.job_cmds import launch_cmd
    from core.cli.run_cmd import run_cmd
    from core.launch_options import LaunchOptions
    from tui.screens.launch import FIELDS

    fields = {f.name for f in dataclasses.fields(LaunchOptions)}
    assert {o.attr for o in OPTIONS} <= fields
    for command in (launch_cmd, run_cmd):
        flags = {flag for p in command.params for flag in p.opts}
        assert {o.flag for o in OPTIONS if o.flag} <= flags
    assert [o.name for o in FIELDS] == ["n_epochs", "batch_size", "learning_rate_multiplier", "class_weight",
                                        "early_stopping", "objective", "max_length", "suffix", "seed", "validation",
                                        "max_cost"]


def test_a_learning_rate_above_the_cap_is_refused_before_anything_is_uploaded(run_cli, sample_csv, tmp_path):
    from core.registry.db import Registry

    build = tmp_path / "b"
    assert run_cli("prepare", sample_csv, "--out", build, "--samples", "train=40,val=10,test=10").exit_code == 0
    registry = Registry()
    builds = registry.list_builds()   # prepare registers its build; the refused launch adds nothing
    assert len(builds) == 1
    result = run_cli("launch", build, "--lr-multiplier", "500")
    assert result.exit_code == 2
    assert result.stderr.strip() == ("startune: error: --lr-multiplier '500': auto, or a number above 0 and at most "
                                     "100 (e.g. 0.5 or 2)")
    assert registry.list_runs() == [] and registry.list_builds() == builds


async def test_the_backend_states_its_cap(local_client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        await local_client.fine_tuning.jobs.create(
            model="startune-local", training_file="file-nope",
            method={"type": "supervised", "supervised": {"hyperparameters": {"learning_rate_multiplier": 500}}})
    assert "at most 100" in caught.value.message


@pytest.mark.parametrize("seed", ["-1", "99999999999999999999", "9" * 5000])
def test_prepare_refuses_a_seed_out_of_range_in_one_line_and_leaves_nothing(run_cli, sample_csv, tmp_path, seed):
    result = run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--seed", seed)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"startune: error: --seed {seed!r}: a whole number from 0 to 2147483647"
    assert list(tmp_path.iterdir()) == []  # no build, no lock file


def test_early_stopping_typed_on_the_command_line_reaches_the_job(run_cli, sample_csv, tmp_path):
    """Declared once with a flag: `--early-stopping off` is sent as the local backend's own hyperparameter."""
    import orjson

    build = tmp_path / "b"
    assert run_cli("prepare", sample_csv, "--out", build, "--samples", "train=40,val=10,test=10").exit_code == 0
    result = run_cli("launch", build, "--early-stopping", "off", "--no-follow", "--json")
    assert result.exit_code == 0, result.output
    from core.registry.db import Registry

    run = Registry().get_run(orjson.loads(result.stdout)["run_id"])
    assert run["config"]["hyperparameters"]["early_stopping"] is False  # and the backend took it (no 400)
    refused = run_cli("launch", build, "--early-stopping", "maybe")
    assert refused.stderr.strip() == "startune: error: --early-stopping 'maybe': auto or on or off"
