"""Shared command-line output: rich on stderr for people, JSON on stdout for scripts."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import click

from core.progress import ProgressFn, null_progress


def stderr_console():
    from rich.console import Console

    # messages are lines: never broken at the terminal's width (a grep, a log or a test would see
    # a message cut in two, and what it said would depend on COLUMNS)
    return Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)


def stdout_console():
    from rich.console import Console

    return Console(highlight=False, emoji=False)


def print_json(obj: object) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.flush()


def print_json_line(obj: object) -> None:
    import orjson

    sys.stdout.buffer.write(orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS) + b"\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress_bar(enabled: bool = True) -> Iterator[ProgressFn]:
    """A ProgressFn drawing one rich bar per stage on stderr (nothing when stderr is not a terminal)."""
    console = stderr_console()
    if not enabled or not console.is_terminal:
        yield null_progress
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TaskID,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    tasks: dict[str, TaskID] = {}
    with Progress(TextColumn("{task.description:<14}"), BarColumn(), TaskProgressColumn(),
                  TimeElapsedColumn(), console=console, transient=True) as bar:

        def update(stage: str, done: int, total: int | None = None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def option_json():
    return click.option("--json", "as_json", is_flag=True, help="Print a machine-readable result on stdout.")


def plain(value: object) -> str:
    """``value`` as it must appear in a rich line: ids, names and paths are never markup
    (a suffix ``[bold]`` stays ``[bold]``). Emoji codes (``:ok:``) are off in both consoles."""
    from rich.markup import escape

    return escape(str(value))
