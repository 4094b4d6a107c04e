"""Every launch option, declared once: its name, flag, kind, limits, default, help, the app's field and the
backends that take it. From these declarations come the click flags of `launch | run | rerun`
(core.cli.job_cmds), the Launch screen's fields and their validators (tui/screens/launch.py), LaunchOptions
itself, the checks launch() makes before anything is priced or uploaded, the local backend's check of a job
request's hyperparameters (core/backend/requests.py) and which settings a rerun carries to another backend
(core/jobs/rerun.py). A limit has this one home; tests/core/test_launch_options_declared.py holds every front
end and the backend to it.

Adding an option is adding an Option to OPTIONS (docs/architecture.md, "Adding a launch option").
Plain data and the standard library only: `startune --help` builds its flags from here."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from core.choices import BACKEND_KINDS, CLASS_WEIGHTS, TRAINING_TYPES, DEFAULT_OBJECTIVE, OBJECTIVES
from core.errors import ConfigError, ValueRefused
from core.seed import SEED_RULE, parse_seed, seed_refused

Kind = Literal["whole", "number", "choice", "text", "seed", "dollars", "switch", "wandb"]
# the kinds of backend that are startune's own server (the local backend; a compatible URL may be one)
STARTUNE_SERVERS = ("local", "compatible")


class OptionRefused(ValueError):
    """A value outside an option's rule; ``rule`` says what is allowed, for each front end to word."""

    def __init__(self, option: Option, value: object) -> None:
        super().__init__(f"{option.name} {value!r}: {option.rule}")
        self.option, self.value, self.rule = option, value, option.rule


@dataclass(frozen=True)
class Option:
    name: str                          # the API's key for a hyperparameter; LaunchOptions' field otherwise
    flag: str | None                   # the command line's flag (None: the API only, no front end sets it)
    kind: Kind
    help: str
    default: Any = None
    low: float | None = None           # whole: inclusive; number: exclusive low, inclusive high
    high: float | None = None
    choices: tuple = ()                # choice: the values as sent; text: () ; the words typed map to them
    words: tuple[str, ...] = ()        # choice: what is typed for each of ``choices`` (default: the same)
    max_length: int | None = None      # text
    backends: tuple[str, ...] = BACKEND_KINDS   # the kinds of backend that take it
    hyperparameter: bool = False       # sent in method.supervised.hyperparameters
    openai: bool = True                # in OpenAI's API; startune's own are sent only when not the default
    field: str | None = None           # LaunchOptions' field, when it differs from ``name``
    dest: str | None = None            # the click parameter, when it differs from ``name``
    label: str | None = None           # the Launch screen's field label (None: not on the screen)
    widget: str | None = None          # the Launch screen's widget id
    placeholder: str = ""
    refused_elsewhere: str | None = None  # the refusal on another backend: {flag}, {kind}, {backend}
    elsewhere_hint: str | None = None

    @property
    def attr(self) -> str:
        return self.field or self.name

    @property
    def param(self) -> str:
        return self.dest or self.name

    @property
    def rule(self) -> str:
        """What the option takes, in words every front end and the backend show."""
        if self.kind == "whole":
            return f"auto, or a whole number from {self.low:g} to {self.high:g}"
        if self.kind == "number":
            return f"auto, or a number above {self.low:g} and at most {self.high:g} (e.g. 0.5 or 2)"
        if self.kind == "choice":
            return " or ".join(self.typed_words)
        if self.kind == "text":
            return f"at most {self.max_length} characters"
        if self.kind == "seed":
            return SEED_RULE
        if self.kind == "dollars":
            return "a number of dollars, 0 or more"
        return "on or off" if self.kind == "switch" else "a project name"

    @property
    def typed_words(self) -> tuple[str, ...]:
        return self.words or tuple(str(c) for c in self.choices)

    # -- a value as typed: a command-line flag, an app field --------------------------------------
    def parse(self, text: object) -> Any:
        """The value of ``text`` as typed (blank: the default); ConfigError naming the flag otherwise."""
        blank = text is None or not str(text).strip()
        if self.kind == "switch":
            return bool(text)
        if self.kind == "seed":
            return parse_seed(text if text is None or isinstance(text, (str, int)) else str(text),
                              self.flag or self.name)
        if blank:
            return self.default
        value = str(text).strip()
        if self.kind == "whole":
            if value == "auto":
                return "auto"
            if value.isascii() and value.lstrip("-").isdigit() and len(value) < 12:
                return self._checked(int(value), text)
        elif self.kind in ("number", "dollars"):
            if value == "auto" and self.kind == "number":
                return "auto"
            try:
                return self._checked(float(value), text)
            except ValueError:
                pass
        elif self.kind == "choice":
            by_word = {w.lower(): c for w, c in zip(self.typed_words, self.choices)}
            if value.lower() in by_word:
                return by_word[value.lower()]
        elif self.kind == "text":
            if self.max_length is None or len(value) <= self.max_length:
                return value
            raise self._refuse(value, f"{self.rule} ({len(value)} now)")
        elif self.kind == "wandb":
            return [{"type": "wandb", "wandb": {"project": value}}]
        raise self._refuse(text)

    def _checked(self, value: object, text: object) -> Any:
        try:
            return self.check(value)
        except OptionRefused:
            raise self._refuse(text) from None

    def _refuse(self, text: object, rule: str | None = None) -> ConfigError:
        return ValueRefused(self.flag or self.name, text, rule or self.rule)

    # -- a typed value: LaunchOptions, a request body, a run's recorded settings ------------------
    def check(self, value: object) -> Any:
        """``value`` when the option takes it ("auto" for None where auto is allowed); OptionRefused if not."""
        if self.kind in ("whole", "number") and (value is None or value == "auto"):
            return "auto"
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        if self.kind == "whole":
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                return value
        elif self.kind == "number":
            if isinstance(value, (int, float)) and number and math.isfinite(value) and low < value <= high:
                return value
        elif self.kind == "dollars":
            if value is None or (isinstance(value, (int, float)) and number and math.isfinite(value) and value >= 0):
                return value
        elif self.kind == "choice":
            if (value is None and self.default is None) or any(
                    value is c or (isinstance(c, str) and value == c) for c in self.choices):
                return value
        elif self.kind == "text":
            if value is None or (isinstance(value, str) and (self.max_length is None
                                                             or len(value) <= self.max_length)):
                return value
        elif self.kind == "seed":
            if value is None or not seed_refused(value):
                return value
        else:
            return value
        raise OptionRefused(self, value)

    def refusal_elsewhere(self, choice) -> ConfigError:
        template = self.refused_elsewhere or "{flag} is not a setting of the {kind} backend"
        return ConfigError(template.format(flag=self.flag, kind=choice.kind, backend=choice.describe()),
                           hint=self.elsewhere_hint)


OPTIONS: tuple[Option, ...] = (
    Option("model", "--model", "text", "Base model (default: the backend's; local: startune-local)."),
    Option("n_epochs", "--epochs", "whole", "n_epochs: 1-50 or auto.", default="auto", low=1, high=50,
           hyperparameter=True, label="epochs", widget="epochs"),
    Option("batch_size", "--batch-size", "whole", "1-256 or auto.", default="auto", low=1, high=256,
           hyperparameter=True, label="batch size", widget="batch"),
    Option("learning_rate_multiplier", "--lr-multiplier", "number",
           "Learning-rate multiplier (above 0, at most 100) or auto.", default="auto", low=0, high=100,
           hyperparameter=True, label="LR multiplier", widget="lr"),
    Option("class_weight", "--class-weight", "choice",
           "Local backend: weigh rare labels up (auto: chosen on validation).", default="auto",
           choices=CLASS_WEIGHTS, backends=STARTUNE_SERVERS, hyperparameter=True, openai=False,
           refused_elsewhere="class weights are a setting of startune's local backend; {backend} does not take "
                             "them (leave them at auto)", label="class weight", widget="class-weight"),
    Option("early_stopping", "--early-stopping", "choice",
           "Local backend: stop when validation loss stops falling (auto: when epochs are auto).",
           default="auto", choices=("auto", True, False), words=("auto", "on", "off"),
           backends=STARTUNE_SERVERS, hyperparameter=True, openai=False, label="early stop",
           widget="early-stopping"),
    Option("objective", "--objective", "choice",
           f"Local backend: what auto maximises on validation (auto: {DEFAULT_OBJECTIVE}; mae for ordered stars).",
           default="auto", choices=("auto", *OBJECTIVES), backends=STARTUNE_SERVERS, hyperparameter=True,
           openai=False, label="objective", widget="objective"),
    Option("max_length", "--max-length", "whole",
           "Local transformer and LLM models: tokens read of each example, 16-2048 or auto (encoders: the length "
           "that keeps 98% of the training texts whole; LLMs: 512), at most the model's own limit.",
           default="auto", low=16, high=2048, backends=STARTUNE_SERVERS, hyperparameter=True, openai=False,
           label="max tokens", widget="max-length"),
    Option("suffix", "--suffix", "text", "Up to 64 characters in the fine-tuned model's name.", max_length=64,
           label="suffix", widget="suffix", placeholder="up to 64 characters"),
    Option("seed", "--job-seed", "seed", "Training seed (same seed, same run).", dest="job_seed",
           label="seed", widget="seed", placeholder="random"),
    Option("validation", "--no-validation", "switch", "Do not upload val.jsonl.", default=True,
           dest="no_validation", label="use val.jsonl", widget="validation"),
    Option("max_cost", "--max-cost", "dollars", "Refuse to launch above this estimate (USD).",
           label="budget (USD)", widget="budget", placeholder="no limit"),
    Option("name", "--name", "text", "Run name in the registry."),
    Option("wandb_project", "--wandb-project", "wandb", "Pass a Weights & Biases integration to the job.",
           field="integrations"),
    Option("training_type", "--azure-training-type", "choice",
           "Azure OpenAI only: the job's trainingType (Developer: cheapest, no data residency).",
           choices=TRAINING_TYPES, backends=("azure",),
           refused_elsewhere="{flag} is for Azure OpenAI, not the {kind} backend",
           elsewhere_hint="add --backend azure, or drop the flag"),
    Option("cleanup", "--cleanup", "switch", "If the backend refuses to train (403 training_not_available), "
           "delete the files this launch uploaded.", default=False),
)
BY_NAME = {o.name: o for o in OPTIONS}
HYPERPARAMETERS = {o.name: o for o in OPTIONS if o.hyperparameter}


def _hyperparameters(self) -> dict:
    """The job's method.supervised.hyperparameters: OpenAI's always, startune's own when not the default."""
    return {o.name: getattr(self, o.name) for o in HYPERPARAMETERS.values()
            if o.openai or getattr(self, o.name) != o.default}


if TYPE_CHECKING:
    class LaunchOptions:
        """What a type checker sees of the dataclass made below: its fields are the options' ``attr``s,
        declared once in OPTIONS, so here they are any attribute."""

        metadata: dict

        def __init__(self, **fields: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...
        def hyperparameters(self) -> dict: ...
else:
    # One field per option (a wandb project becomes the job's integrations), and what launch() adds itself.
    LaunchOptions = dataclasses.make_dataclass(
        "LaunchOptions",
        [(o.attr, Any, dataclasses.field(default=o.default)) for o in OPTIONS]
        + [("metadata", dict, dataclasses.field(default_factory=dict))],
        namespace={"hyperparameters": _hyperparameters, "__module__": __name__})


def options_from_strings(**typed: object):
    """LaunchOptions from values typed as text, keyed by option name (a click parameter's name works too);
    the first refused value raises ConfigError naming its flag, before anything is priced or uploaded."""
    by_param = {o.param: o for o in OPTIONS} | BY_NAME
    unknown = set(typed) - set(by_param)
    if unknown:
        raise TypeError(f"no launch option {', '.join(sorted(unknown))}")
    values = {}
    for key, text in typed.items():
        option = by_param[key]
        value = option.parse(text)
        if option.kind == "switch" and key == option.dest == f"no_{option.name}":
            value = not value
        values[option.attr] = value
    return LaunchOptions(**values)


def check_options(options) -> None:
    """Every value of ``options`` (LaunchOptions made in code too: the app, a rerun) within its rule."""
    for option in OPTIONS:
        try:
            option.check(getattr(options, option.attr))
        except OptionRefused as exc:
            raise option._refuse(exc.value) from None  # noqa: SLF001 - the same wording as typed


def check_for_backend(options, choice) -> None:
    """Settings only some kinds of backend have, refused elsewhere before anything is priced or uploaded."""
    for option in OPTIONS:
        if choice.kind not in option.backends and getattr(options, option.attr) != option.default:
            raise option.refusal_elsewhere(choice)


def carried_to(kind: str, requested: dict) -> tuple[dict, list[str]]:
    """The recorded hyperparameters a backend of ``kind`` takes, and the names of those it does not."""
    kept = {k: v for k, v in requested.items() if k in HYPERPARAMETERS and kind in HYPERPARAMETERS[k].backends}
    return kept, sorted(set(requested) - set(kept))
