"""The check and cost estimate before a launch, the one home for both front ends: `startune launch | run |
rerun` print it and the app's Launch screen confirms it, priced for the model the job will be created for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from pathlib import Path

from core.errors import Advice, ConfigError, DataError
from core.progress import ProgressFn, null_progress
from core.records.manifest import BuildManifest, TokenSummary
from core.validation.cost import CostEstimate

if TYPE_CHECKING:
    from core.backend.duration import DurationEstimate


@dataclass
class LaunchEstimate:
    """What a launch of ``input`` will upload and cost, for ``model``."""

    input: object                    # core.jobs.launch.LaunchInput
    model: str
    cost: CostEstimate
    n_examples: int                  # training examples
    n_valid: int | None = None       # the user's own validation file's examples (a build's are in its manifest)
    auto_epochs: str | None = None   # what decides the epochs when the backend's "auto" is not a fixed number
    reused: bool = False             # the training file's token counts came from the build's manifest
    duration: DurationEstimate | None = None   # for a local transformer or LLM job
    source: Path | None = None       # what was estimated: the build folder or file given
    advice: tuple[str, ...] = ()     # what the user should know before confirming (too few examples for an LLM)

    def over_budget(self, max_cost: float | None) -> bool:
        return max_cost is not None and self.cost.usd is not None and self.cost.usd > max_cost

    def check_budget(self, max_cost: float | None) -> None:
        if self.over_budget(max_cost):
            raise ConfigError(f"estimated cost ${self.cost.usd:,.2f} is above --max-cost ${max_cost:,.2f}",
                              hint=self.describe())

    def describe_duration(self) -> str | None:
        """The time line ("training time: up to 40 min on cpu (2 threads) ..."), where one was measured; above
        LONG_ON_CPU on a CPU it names the faster choices."""
        if self.duration is None:
            return None
        text = f"training time: {self.duration.describe()}"
        if self.duration.too_long():
            text += ("; that is long for a CPU: the linear model (--model startune-local) trains in a minute or "
                     "two, or train on fewer examples (prepare --samples train=N)")
        return text

    def describe(self) -> str:
        """The cost line: what the job is priced at and on how many epochs."""
        cost = self.cost
        if self.auto_epochs is None:
            return cost.describe()
        price = "price unknown" if cost.usd is None else f"${cost.usd:,.2f}"
        return (f"{price} for {cost.model}: at most {cost.billed_tokens:,} billed tokens "
                f"({cost.billed_tokens_per_epoch:,} x up to {cost.n_epochs} epochs, {self.auto_epochs}), "
                f"prices of {cost.prices_as_of}")


def objective_line(options, model: str, backend_kind: str) -> str | None:
    """What the job's auto optimises ("objective: macro_f1 (the default)"), for a classifier the local backend
    trains; None where it means nothing (an LLM learns text; a remote server may not be startune's)."""
    from core.backend.base_models import find
    from core.choices import DEFAULT_OBJECTIVE

    from core.jobs.backends import BACKENDS

    base = find(model) if model else None
    if not BACKENDS[backend_kind].trains_here or (base is not None and base.kind == "llm"):
        return None
    if options.objective == "auto":
        return f"objective: {DEFAULT_OBJECTIVE} (the default)"
    return f"objective: {options.objective}"


async def launch_model(client, choice, options) -> str:
    """The model the job will be created for: the one asked for, else the backend's default."""
    from core.jobs.backends import default_model

    return options.model or await default_model(client, choice)


def local_auto_epochs(model: str) -> tuple[int, str] | None:
    """(at most how many epochs, what decides) when the local backend trains ``model`` with n_epochs
    "auto": then no fixed count is true. None for models the local backend does not train."""
    from core.backend.base_models import find

    base = find(model)
    if base is None:
        return None
    if base.kind == "linear":
        from core.backend.linear import AUTO_MAX_EPOCHS

        return AUTO_MAX_EPOCHS, "auto: early stopping"
    if base.kind == "llm":
        from core.backend.llm import AUTO_EPOCHS

        return AUTO_EPOCHS, "auto"
    from core.backend.transformer import MAX_AUTO_EPOCHS

    return MAX_AUTO_EPOCHS, "auto: early stopping"


def _known_train_report(manifest: BuildManifest | None, model: str) -> TokenSummary | None:
    """The training file's validation summary a build's manifest carries (`startune prepare` counts the
    tokens as it writes), when it is for these very bytes and the model's tokenizer and example limit."""
    from core.validation.models import model_info

    if manifest is None:
        return None
    entry = (manifest.get("validation") or {}).get("train")
    split = manifest["splits"].get("train")
    if entry is None or split is None or not entry.get("ok") or not split.get("sha256") \
            or entry.get("sha256") != split["sha256"]:
        return None
    known, wanted = model_info(entry["model"]), model_info(model)
    if (known.encoding, known.max_example_tokens) != (wanted.encoding, wanted.max_example_tokens):
        return None
    return entry


def estimate_launch(source: Path, options, model: str, *, validation_file: Path | None = None,
                    progress: ProgressFn = null_progress) -> LaunchEstimate:
    """Check the files a launch of ``source`` uploads (a build folder against its manifest) and price the
    training file for ``model`` and the options' epochs; a file with format errors is one line. A build
    whose manifest carries the training file's token counts (same sha256) is not read again for them."""
    from core.jobs.inputs import launch_input
    from core.validation.cost import estimate_cost
    from core.validation.validate import validate_file

    inp = launch_input(Path(source), validation_file)
    fixed = options.n_epochs if isinstance(options.n_epochs, int) else None
    auto = local_auto_epochs(model) if fixed is None else None
    known = _known_train_report(inp.manifest, model)
    if known is not None:
        n_examples, billed, default = known["n_examples"], known["billed_tokens_per_epoch"], known["default_epochs"]
    else:
        report = validate_file(inp.train, model, progress=progress, n_epochs=fixed)
        if not report.ok:
            raise DataError(f"training file has format errors, first: {report.first_error()}", path=inp.train,
                            hint=Advice.REBUILD)
        n_examples, billed, default = report.n_examples, report.billed_tokens_per_epoch, report.default_epochs
    cost = estimate_cost(billed, fixed or (auto[0] if auto else default), model)
    n_valid = None
    valid = inp.valid if options.validation else None
    if valid is not None and valid.stat().st_size and inp.manifest is None:
        valid_report = validate_file(valid, model, progress=progress)
        if not valid_report.ok:
            raise DataError(f"validation file has format errors, first: {valid_report.first_error()}", path=valid,
                            hint=Advice.REBUILD)
        n_valid = valid_report.n_examples
    duration = local_duration(model, inp, options, progress)
    return LaunchEstimate(inp, model, cost, n_examples, n_valid, auto[1] if auto else None, known is not None,
                          duration, Path(source), advice_for(model, n_examples))


def advice_for(model: str, n_examples: int) -> tuple[str, ...]:
    from core.backend.base_models import find

    base = find(model) if model else None
    if base is None or base.kind != "llm":
        return ()
    from core.backend.llm import few_examples_advice

    advice = few_examples_advice(model, n_examples)
    return (advice,) if advice else ()


def local_duration(model: str, inp, options, progress: ProgressFn = null_progress):
    """A calibrated duration for a transformer or LLM job the local backend will train here, else None (the linear
    model trains in seconds; remote backends say nothing of their queues)."""
    from core.backend.base_models import find

    base = find(model)
    if base is None or base.kind not in ("transformer", "llm") or base.missing():
        return None
    from core.backend.training import TrainingDataError

    if base.kind == "llm":
        from core.backend.llm import estimate_duration
    else:
        from core.backend.transformer import estimate_duration
    from core.records.formats import read_examples

    progress("calibrating training speed", 0, None)
    train = list(read_examples(inp.train))
    valid = list(read_examples(inp.valid)) if options.validation and inp.valid is not None and inp.valid.stat().st_size else []
    try:
        return estimate_duration(model, train, valid, options.hyperparameters() | {
            k: v for k, v in (("class_weight", options.class_weight), ("objective", options.objective))
            if v != "auto"}, seed=options.seed or 0)
    except TrainingDataError:
        return None   # the job itself will fail with this one line; an estimate is no place for it
    finally:
        progress("calibrating training speed", 1, 1)
