"""The ``startune`` command.

Sub-commands live in their own modules and are imported only when invoked, so
``startune --help`` and the TUI start fast (pandas, openai and scikit-learn load
lazily).  A :class:`~core.errors.StartuneError` becomes one line on stderr and
exit code 2; no traceback for user mistakes.
"""

from __future__ import annotations

import importlib

import click

from core.errors import StartuneError, storage_error

# name -> "module:attribute"; each module owns its commands.
COMMANDS: dict[str, str] = {
    "inspect": "core.cli.prepare_cmds:inspect_cmd",
    "prepare": "core.cli.prepare_cmds:prepare_cmd",
    "audit": "core.cli.audit_cmd:audit_cmd",
    "validate": "core.cli.validate_cmd:validate_cmd",
    "serve": "core.cli.serve_cmd:serve_cmd",
    "launch": "core.cli.job_cmds:launch_cmd",
    "follow": "core.cli.job_cmds:follow_cmd",
    "results": "core.cli.job_cmds:results_cmd",
    "jobs": "core.cli.job_cmds:jobs_cmd",
    "cancel": "core.cli.job_cmds:cancel_cmd",
    "pause": "core.cli.job_cmds:pause_cmd",
    "resume": "core.cli.job_cmds:resume_cmd",
    "run": "core.cli.run_cmd:run_cmd",
    "evaluate": "core.cli.evaluate_cmd:evaluate_cmd",
    "models": "core.cli.models_cmd:models_cmd",
    "rerun": "core.cli.rerun_cmd:rerun_cmd",
    "export": "core.cli.export_cmd:export_cmd",
}
APP_COMMAND = "tui"   # added by the app's own entry point (tui/cli.py), which composes core's commands


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.commands:
            return self.commands[name]
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None  # not built yet
            raise
        return getattr(module, attr)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except StartuneError as exc:
            click.echo(f"startune: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # a full or read-only disk met where no step named its own path: still one line, not a traceback
            found = storage_error(exc)
            if found is None:
                raise
            click.echo(f"startune: error: {found}", err=True)
            ctx.exit(found.exit_code)
        except KeyboardInterrupt:
            click.echo("startune: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=LazyGroup, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="startune")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """startune: from a labelled review dataset to a fine-tuned model.

    Run with no command to open the terminal app.
    """
    if ctx.invoked_subcommand is None:
        group = ctx.command
        app = group.get_command(ctx, APP_COMMAND) if isinstance(group, click.Group) else None
        if app is None:   # core alone (no app entry point): say what there is
            click.echo(ctx.get_help())
        else:
            ctx.invoke(app)


def main(argv: list[str] | None = None) -> None:
    """The headless commands only; the installed ``startune`` is tui.cli.main, which adds the app."""
    run_and_leave(cli, argv)


def run_and_leave(group: click.Group, argv: list[str] | None) -> None:
    """Run the command line, then end the process without the interpreter's teardown.

    Freeing a command's ~1,200 modules and their objects one by one took 0.2-0.3 s of a 2.5-second
    `startune evaluate`; the OS frees the memory at once. Everything an exit owes is still done first:
    the atexit handlers (temporary folders, logging) and the streams' buffers. When another non-daemon
    thread still runs, or a profiler or debugger watches, the process leaves the ordinary way."""
    import atexit
    import os
    import sys
    import threading

    try:
        group.main(args=argv, prog_name="startune")
        code: object = 0
    except SystemExit as exc:
        code = 0 if exc.code is None else exc.code
    others = [t for t in threading.enumerate() if t is not threading.current_thread() and not t.daemon]
    # a profiler or debugger writes its findings after this returns: the ordinary way lets it
    watched = sys.getprofile() is not None or sys.gettrace() is not None
    if not isinstance(code, int) or others or watched:
        sys.exit(code)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):   # a closed or broken pipe: as Python's own exit, status 120
            code = code or 120
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
