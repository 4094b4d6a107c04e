"""Launch: which build (or JSONL file), backend, model (as the backend lists them) and
hyperparameters, each checked as it is typed; then a confirmation with the cost and budget."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Button, Header, Input, Select, Static, Switch

from core.choices import BACKEND_KINDS
from core.launch_options import OPTIONS
from tui.messages import LaunchChecked
from tui.screens.base import AppScreen
from tui.widgets.form import Checks, Field, field, first_error
from tui.widgets.path_input import PathInput
from tui.widgets.footer import AppFooter

# the app's words for core's backend kinds (core.choices.BACKEND_KINDS)
BACKEND_NAMES = {"local": "local (this machine)", "openai": "OpenAI", "azure": "Azure OpenAI",
                 "compatible": "compatible base URL"}
BACKENDS = [(BACKEND_NAMES[kind], kind) for kind in BACKEND_KINDS]
OWN_FILE = "own-file"  # the build selector's entry for a JSONL file of the user's own
NO_URL = "a base URL"  # what a compatible backend without one lacks: typed on this screen, not exported


def trainable(model: str) -> bool:
    from core.validation.models import model_info

    try:
        return model.startswith("ft:") or model_info(model).trainable
    except Exception:  # noqa: BLE001 - a model the price table does not know
        return False


def check_jsonl(value: str) -> None:
    path = Path(value.strip()).expanduser()
    if path.suffix != ".jsonl":
        raise ValueError("a .jsonl file (chat or prompt/completion records)")
    if not path.is_file():
        raise ValueError(f"no file {value.strip()}")


def build_label(build: dict) -> str:
    train = build["manifest"].get("splits", {}).get("train", {}).get("examples")
    stamp = time.strftime("%m-%d %H:%M", time.localtime(build["created_at"]))
    return f"{build['path'].name} · {stamp}" + (f" · {train:,} train" if train is not None else "")


# the declared launch options the screen shows (core/launch_options.py: Option.label), in their order
FIELDS = tuple(o for o in OPTIONS if o.label)
INPUT_TYPES = {"seed": "integer", "dollars": "number"}


def _auto(option) -> bool:
    return option.kind in ("whole", "number")


def option_validators(option) -> list[Checks]:
    """The option's field checked as typed by the rule the launch itself applies (Option.parse); blank is no
    seed, no budget, no suffix, or auto."""
    return [Checks(option.parse, allow_empty=not _auto(option))]


def option_input(option) -> Input | Select | Switch:
    """A choice is picked from its words (nothing else can be chosen), a switch is on or off; the rest are
    typed and checked."""
    if option.kind == "switch":
        return Switch(bool(option.default), id=option.widget)
    if option.kind == "choice":
        words = option.typed_words
        default = words[option.choices.index(option.default)] if option.default in option.choices else words[0]
        return Select([(w, w) for w in words], value=default, allow_blank=False, id=option.widget)
    return Input("auto" if _auto(option) else "", placeholder=option.placeholder, id=option.widget,
                 type=INPUT_TYPES.get(option.kind, "text"), validators=option_validators(option),
                 valid_empty=not _auto(option))


class LaunchScreen(AppScreen):
    SUB_TITLE = "Launch"  # the header says which screen this is
    BINDINGS = [Binding("ctrl+l", "launch", "Launch")]

    def __init__(self, build_dir: Path | None = None) -> None:
        super().__init__()
        self.build_dir = build_dir
        self._cannot_train: dict[str, str] = {}   # listed model -> its install line (core.jobs.backends)
        self._install_said = False

    def compose(self) -> ComposeResult:
        from core.jobs.launch import build_of, recent_builds

        choice = self.app.session.choice
        builds = recent_builds(self.app.session.registry)
        options = [(build_label(b), str(b["path"])) for b in builds]
        if self.build_dir is not None and str(self.build_dir) not in {value for _, value in options}:
            options.insert(0, (Path(self.build_dir).name, str(self.build_dir)))
        options.append(("a JSONL file of my own ...", OWN_FILE))
        if self.build_dir is not None:
            selected = str(self.build_dir)
        elif self.app.dataset is None:  # no dataset in hand: the newest build, or the own-file entry
            selected = options[0][1]
        else:  # the dataset in hand's newest build, or none: never another dataset's
            own = build_of(builds, self.app.dataset)
            selected = str(own["path"]) if own is not None else Select.NULL
        yield Header()
        with VerticalScroll(id="launch-form"):
            yield field("build", Select(options, value=selected, allow_blank=selected is Select.NULL, id="build",
                                        prompt="choose a build (none of this dataset yet)"))
            yield field("JSONL file", PathInput("", id="own-file", placeholder="path to a train .jsonl file", validators=[Checks(check_jsonl)],
                                                validate_on=["changed", "submitted"]))
            yield field("backend", Select(BACKENDS, value=choice.kind, allow_blank=False, id="backend"))
            yield field("base URL", Input(choice.base_url or "", placeholder=choice.backend.url_meaning, id="base-url"))
            yield field("model", Select([(choice.default_model, choice.default_model)], value=choice.default_model,
                                        allow_blank=False, id="model"))
            for option in FIELDS:
                yield field(option.label, option_input(option))
            with Vertical(id="launch-actions"):
                yield Button("Launch (ctrl+l)", variant="primary", id="launch", compact=True)
                yield Static("", id="launch-error")
        yield AppFooter()

    def on_mount(self) -> None:
        self._source_changed()
        self._backend_shown()
        self._load_models(self.app.session.choice)

    # -- what to launch --------------------------------------------------------------------
    @on(Select.Changed, "#build")
    def _source_changed(self) -> None:
        own = self.query_one("#build", Select).value == OWN_FILE
        self.query_one("#field-own-file").display = own
        if own and len(self.query_one("#build", Select)._options) == 1:  # noqa: SLF001 - no builds at all
            self.query_one("#field-own-file", Field).note(
                "No builds yet: make one on the Build screen, or give a JSONL file here.", error=False)

    def _source(self) -> Path:
        value = self.query_one("#build", Select).value
        if value == OWN_FILE:
            return Path(self.query_one("#own-file", Input).value.strip()).expanduser()
        return Path(str(value))

    # -- backend and its models ------------------------------------------------------------
    @on(Select.Changed, "#backend")
    def backend_changed(self) -> None:
        self._backend_shown()
        try:
            choice = self._choice()
        except Exception:  # noqa: BLE001 - explained under the backend and when launching
            self.workers.cancel_group(self, "models")
            self.query_one("#field-model", Field).note("")   # another URL's listing says nothing of this one
            return
        self._load_models(choice)

    def _backend_shown(self) -> None:
        from core.jobs.backends import BackendChoice, missing_settings

        kind = self.query_one("#backend", Select).value
        backend = BackendChoice.from_key(str(kind)).backend
        self.query_one("#field-base-url").display = backend.takes_url
        self.query_one("#base-url", Input).placeholder = backend.url_meaning
        for option in FIELDS:   # a setting only startune's own backends take is not offered for others
            self.query_one(f"#field-{option.widget}").display = kind in option.backends
        try:
            missing = missing_settings(self._choice())
        except Exception:  # noqa: BLE001 - e.g. compatible without a URL yet
            missing = [NO_URL]
        self.query_one("#field-backend", Field).note(self._missing_text(missing))

    @staticmethod
    def _missing_text(missing: list[str]) -> str:
        if not missing:
            return ""
        if missing == [NO_URL]:   # the one setting typed here, not in the environment
            return "needs a base URL: type it in the base URL field"
        return f"needs {' and '.join(missing)}: set it in the environment and restart, or choose the local backend"

    @on(Input.Submitted, "#base-url")
    def base_url_submitted(self) -> None:
        self.backend_changed()

    @work(exclusive=True, group="models", exit_on_error=False)
    async def _load_models(self, choice) -> None:
        """The models the backend lists (GET /v1/models), its default first when it has one."""
        from core.jobs.backends import default_model, missing_settings, remote_client
        from tui.errors import describe

        select = self.query_one("#model", Select)
        field = self.query_one("#field-model", Field)
        default = choice.default_model
        if missing_settings(choice):   # said under the backend; what another backend's listing said is gone
            field.note("")
            select.set_options([(default, default)])
            select.value = default
            return
        session = self.app.session
        own = choice != session.choice and not choice.backend.trains_here
        client = remote_client(choice) if own else await session.client()
        if not choice.backend.trains_here:
            field.note(f"asking {choice.base_url or choice.kind} for its models ...")
        try:
            # one retry, not the jobs' eight over 30 s: a form waiting on a wrong URL should say so at once
            quick = client.with_options(max_retries=1)
            listed = [m.id for m in (await quick.models.list()).data]
            default = await default_model(quick, choice)
            field.note("")
        except Exception as exc:  # noqa: BLE001 - said in place; the default model stays usable
            field.note(f"could not list models: {describe(exc)}")
            listed = []
        finally:
            if own:
                await client.close()
        if choice.backend.lists_every_model:  # offer those that fine-tune
            listed = [m for m in listed if trainable(m)]
        models = sorted(set(listed) | {default}, key=lambda m: (m != default, m.startswith("ft:"), m))
        from core.jobs.backends import cannot_train_here

        self._cannot_train = {m: reason for m in models if (reason := cannot_train_here(choice, m))}
        select.set_options([(f"{m} (not installed)" if m in self._cannot_train else m, m) for m in models])
        select.value = default
        self.model_changed()

    @on(Select.Changed, "#model")
    def model_changed(self) -> None:
        reason = self._cannot_train.get(str(self.query_one("#model", Select).value))
        if reason or self._install_said:   # else the note is the listing's ("could not list models"): kept
            self.query_one("#field-model", Field).note(reason or "")
        self._install_said = bool(reason)

    def _choice(self):
        from core.jobs.backends import BackendChoice, resolve_backend

        kind = str(self.query_one("#backend", Select).value)
        url = self.query_one("#base-url", Input).value.strip() or None
        return resolve_backend(kind, url if BackendChoice.from_key(kind).backend.takes_url else None)

    def _shown(self, option) -> bool:
        return bool(self.query_one(f"#field-{option.widget}").display)

    def _options(self):
        from core.launch_options import options_from_strings

        typed = {o.name: self.query_one(f"#{o.widget}").value for o in FIELDS if self._shown(o)}
        return options_from_strings(model=str(self.query_one("#model", Select).value), **typed)

    # -- launching -------------------------------------------------------------------------
    def _say(self, message: str, *, error: bool = True) -> None:
        self.query_one("#launch-error", Static).update(Text(message, style="red" if error else ""))

    @on(Button.Pressed, "#launch")
    def action_launch(self) -> None:
        """Everything the user can fix is checked here, before the cost is asked about."""
        from core.errors import StartuneError
        from core.jobs.backends import missing_settings
        from tui.errors import describe

        self._say("", error=False)
        if self.query_one("#build", Select).value is Select.NULL:
            self.query_one("#build", Select).focus()
            self._say("Choose a build: none was made from the dataset in hand (ctrl+b on Build makes one).")
            return
        refused = first_error(self)
        if refused is not None:
            refused[0].focus()
            self._say(refused[1])
            return
        from core.jobs.backends import check_model

        try:
            choice, options = self._choice(), self._options()
            check_model(choice, options.model)
        except StartuneError as exc:
            self._say(describe(exc))
            return
        missing = missing_settings(choice)
        if missing:
            self._say(f"{choice.kind}: {self._missing_text(missing)}")
            return
        self._say("Checking the training file ...", error=False)
        self._estimate(choice, options, self._source())

    @work(thread=True, exclusive=True, group="launch", exit_on_error=False)
    def _estimate(self, choice, options, source: Path) -> None:
        from core.jobs.estimate import estimate_launch
        from tui.errors import post_outcome

        def progress(what: str, done, total) -> None:
            if what == "calibrating training speed" and not done:   # a transformer's or LLM's timed steps
                self.app.call_from_thread(self._say, f"Timing a few training steps of {options.model} here ...",
                                          error=False)

        def work():
            # the model select always holds one: the backend's default (core.jobs.backends.default_model) at first
            return choice, options, estimate_launch(source, options, options.model, progress=progress), source

        post_outcome(self, LaunchChecked, work)

    @on(LaunchChecked)
    def _checked(self, message: LaunchChecked) -> None:
        if message.error is not None:
            self._say(message.error)
        else:
            self._confirm(message.choice, message.options, message.estimate, message.source)

    def _confirm(self, choice, options, estimate, source: Path) -> None:
        from tui.screens.confirm import ConfirmScreen

        self._say("", error=False)
        budget = "no budget set" if options.max_cost is None else f"budget ${options.max_cost:,.2f}"
        from rich.markup import escape

        from core.jobs.estimate import objective_line

        objective = objective_line(options, estimate.model, choice.kind)
        extra = f"\n{objective}" if objective else ""
        duration = estimate.describe_duration()
        if duration:
            extra += f"\n{escape(duration)}"
        for line in estimate.advice:
            extra += f"\n[yellow]{escape(line)}[/]"
        question = (f"Launch {source.name} on {choice.describe()}?\n\n{estimate.describe()}{extra}\n{budget}"
                    + ("\n\n[red]The estimate is above the budget: the launch will be refused.[/]"
                       if estimate.over_budget(options.max_cost) else ""))

        def answered(yes: bool | None) -> None:
            if yes:
                self._say("Uploading and creating the job ...", error=False)
                self._launch(choice, options, source, estimate)

        self.app.push_screen(ConfirmScreen(question, yes="Launch (y)", no="Cancel (n)"), answered)

    @work(exclusive=True, group="launch", exit_on_error=False)
    async def _launch(self, choice, options, source: Path, estimate=None) -> None:
        from core.jobs.launch import launch
        from tui.errors import describe

        session = self.app.session
        session.use_backend(choice)
        try:
            client = await session.client(choice)
            run_id, job = await launch(client, source, options, choice=choice, registry=session.registry,
                                       estimate=estimate)   # the one just confirmed: no second calibration
        except Exception as exc:  # noqa: BLE001 - explained in place, where the user is looking
            self._say(describe(exc))
            return
        self.app.follow(choice.key, job["id"])
        self.app.open_monitor(run_id, switch=True)
