"""What a user copies out of a run to use elsewhere: the ids and names the API and the commands take,
the paths a shell opens, as the app's copy dialog (y) lists them."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def run_handles(run: dict, checkpoints: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(what, value) for each handle ``run`` has, in the order a user reaches for them; ``checkpoints``:
    the job's checkpoint models, newest first, when the backend listed them."""
    items = [
        ("fine-tuned model", run.get("fine_tuned_model")),
        ("job id", run.get("job_id")),
        *((f"checkpoint {i + 1}", name) for i, name in enumerate(checkpoints)),
        ("build folder", run.get("build_dir")),
        ("result CSV", run.get("results_csv")),
        ("dataset", run.get("dataset")),
        ("run id", run.get("id")),
    ]
    if run.get("id"):
        # a command pasted into a shell: the id needs no quoting, a path might
        items.append(("evaluate command", f"startune evaluate {shlex.quote(run['id'])}"))
    return [(what, str(value)) for what, value in items if value]
