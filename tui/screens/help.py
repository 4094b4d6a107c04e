"""F1: the keys of every screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# startune keys

**Everywhere**: `F1` help · `ctrl+p` command palette (screens and actions) · `escape` back · `ctrl+q` quit ·
a footer too narrow for every key keeps `f1 Help`: the keys it leaves out still work and are listed here

**Runs**: `enter` open · `n` new run · `space` select · `c` compare selected · `d` delete · `j` backend jobs · `r` refresh ·
`y` copy the run's model name, job id or paths · `R` re-run on another backend (same build and settings) · "stops serving": when a paid model stops answering

**Dataset**: `enter` in the path field or `ctrl+o` load · `ctrl+t` file tree (`escape` closes it) ·
`PgUp` `PgDn` turn pages · `Home` `End` first and last row ·
`enter` on a row reads the whole review · `ctrl+g` go to a row · labels field: `1-5` or `neg,neu,pos`, then `enter` ·
`ctrl+b` on to Build · `ctrl+r` audit the labels

**Audit** (reviews whose stars most likely disagree with their text, most likely wrong first): `a` accept the
suggested star · `k` keep the given star · `d` drop the row · `u` undo · `PgUp` `PgDn` pages · `t` texts seen with
several stars · each decision is saved at once beside the dataset (never in it), and Build applies them

**Build**: `ctrl+b` build the files · `ctrl+l` on to Launch · a value a field refuses is explained under it

**Launch**: pick a build (newest first) or a JSONL file of your own, the backend and one of its models;
`ctrl+l` launch (checks every field and the API key, then asks to confirm the cost)

**Monitor**: `c` cancel · `p` pause · `u` resume (each shown only when the job's state allows it) · `r` results ·
`y` copy the model name, job id, a checkpoint or a path (enter copies it to the clipboard, and it is shown in full)

**Results**: `e` evaluate on the test split · `m` monitor · `x` export (evidence, model card, ONNX) · `y` copy a name or path · `tab` then arrows scroll the per-label table

**Compare** (select two or more runs with `space` on Runs, then `c`; `c` alone on a run with re-runs compares
the pair): the runs' validation curves overlaid, what differs in their settings, and their best scores and costs ·
`escape` back

The local backend trains on this machine when no API key is set.
"""


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help"):
            yield Markdown(HELP)

    def action_dismiss(self) -> None:
        self.dismiss()
