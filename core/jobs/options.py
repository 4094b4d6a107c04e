"""Launch options from text, as a user types them (command line flags, the app's fields): one rule per
field, shared by `startune launch | run` and the app's Launch screen, each refusal one line naming the field.

The numeric limits are the fine-tuning API's (core.jobs.hyperparams), which the local backend enforces too."""

from __future__ import annotations

import math

from core.choices import CLASS_WEIGHTS, OBJECTIVES, TRAINING_TYPES
from core.errors import ConfigError
from core.jobs.hyperparams import BATCH_SIZE, N_EPOCHS

MAX_SUFFIX = 64             # characters OpenAI allows in a fine-tuned model's name
MAX_SEED = 2**31 - 1        # the API's seed is a 32-bit signed integer


def _refuse(flag: str, text: str, rule: str) -> ConfigError:
    # "--epochs '0': ..." : the app drops the flag and value and shows the rule under its field
    return ConfigError(f"{flag} {text!r}: {rule}")


def _blank(text: str | None) -> bool:
    return text is None or not str(text).strip()


def _auto_or_whole(text: str | None, flag: str, limits: tuple[int, int]) -> int | str:
    if _blank(text) or str(text).strip() == "auto":
        return "auto"
    low, high = limits
    value = str(text).strip()
    if not value.lstrip("-").isdigit() or not low <= int(value) <= high:
        raise _refuse(flag, str(text), f"auto, or a whole number from {low} to {high}")
    return int(value)


def parse_epochs(text: str | None) -> int | str:
    return _auto_or_whole(text, "--epochs", N_EPOCHS)


def parse_batch_size(text: str | None) -> int | str:
    return _auto_or_whole(text, "--batch-size", BATCH_SIZE)


def parse_lr_multiplier(text: str | None) -> float | str:
    if _blank(text) or str(text).strip() == "auto":
        return "auto"
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise _refuse("--lr-multiplier", str(text), "auto, or a number above 0 (e.g. 0.5 or 2)")
    return value


def parse_suffix(text: str | None) -> str | None:
    if _blank(text):
        return None
    text = str(text).strip()
    if len(text) > MAX_SUFFIX:
        raise _refuse("--suffix", text, f"at most {MAX_SUFFIX} characters ({len(text)} now)")
    return text


def parse_seed(text: str | int | None) -> int | None:
    if _blank(text):
        return None
    value = str(text).strip()
    if not value.isdigit():
        raise _refuse("--job-seed", str(text), "a whole number, 0 or more")
    if int(value) > MAX_SEED:
        raise _refuse("--job-seed", str(text), f"a whole number, 0 or more, at most {MAX_SEED}")
    return int(value)


def parse_max_cost(text: str | float | None) -> float | None:
    if _blank(text):
        return None
    try:
        value = float(str(text).strip())
    except ValueError:
        value = math.nan
    if not (value >= 0 and math.isfinite(value)):
        raise _refuse("--max-cost", str(text), "a number of dollars, 0 or more")
    return value


def parse_class_weight(text: str | None) -> str:
    value = "auto" if _blank(text) else str(text).strip().lower()
    if value not in CLASS_WEIGHTS:
        raise _refuse("--class-weight", str(text), " or ".join(CLASS_WEIGHTS))
    return value


def parse_objective(text: str | None) -> str:
    value = "auto" if _blank(text) else str(text).strip().lower().replace("-", "_")
    if value not in ("auto", *OBJECTIVES):
        raise _refuse("--objective", str(text), " or ".join(("auto", *OBJECTIVES)))
    return value


def parse_training_type(text: str | None) -> str | None:
    """Azure's trainingType as Azure spells it, whatever case was typed."""
    if _blank(text):
        return None
    spelled = {t.lower(): t for t in TRAINING_TYPES}.get(str(text).strip().lower())
    if spelled is None:
        raise _refuse("--azure-training-type", str(text), " or ".join(TRAINING_TYPES))
    return spelled


def check_for_backend(options, choice) -> None:
    """Settings only one kind of backend has, refused elsewhere before anything is priced or uploaded."""
    if options.class_weight != "auto" and choice.kind in ("openai", "azure"):
        raise ConfigError(f"class weights are a setting of startune's local backend; {choice.describe()} "
                          f"does not take them (leave them at auto)")
    if getattr(options, "objective", "auto") != "auto" and choice.kind in ("openai", "azure"):
        raise ConfigError(f"--objective is a setting of startune's local trainers; {choice.describe()} "
                          f"does not take it (leave it at auto)")
    if options.training_type and choice.kind != "azure":
        raise ConfigError(f"--azure-training-type is for Azure OpenAI, not the {choice.kind} backend",
                          hint="add --backend azure, or drop the flag")


def launch_options_from_strings(*, model: str | None = None, epochs: str | None = "auto",
                                batch_size: str | None = "auto", lr_multiplier: str | None = "auto",
                                class_weight: str | None = "auto", objective: str | None = "auto", suffix: str | None = None,
                                seed: str | None = None, max_cost: str | None = None, validation: bool = True,
                                name: str | None = None, wandb_project: str | None = None,
                                training_type: str | None = None, cleanup: bool = False):
    """LaunchOptions from option values typed as text; the first refused value raises ConfigError
    naming its flag (before anything is priced, uploaded or created)."""
    from core.jobs.launch import LaunchOptions

    integrations = None
    if not _blank(wandb_project):
        integrations = [{"type": "wandb", "wandb": {"project": str(wandb_project).strip()}}]
    return LaunchOptions(
        model=None if _blank(model) else str(model).strip(), n_epochs=parse_epochs(epochs),
        batch_size=parse_batch_size(batch_size), learning_rate_multiplier=parse_lr_multiplier(lr_multiplier),
        class_weight=parse_class_weight(class_weight), objective=parse_objective(objective), suffix=parse_suffix(suffix), seed=parse_seed(seed),
        max_cost=parse_max_cost(max_cost), validation=validation, name=name or None, integrations=integrations,
        training_type=parse_training_type(training_type), cleanup=bool(cleanup))
