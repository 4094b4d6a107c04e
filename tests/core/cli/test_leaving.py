"""The command line ends its process without the interpreter's teardown, and still does all an exit owes:
the exit status, every byte of output, the atexit handlers, and waiting for a thread that still runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import orjson

from core.cli import run_and_leave  # noqa: F401  (the name the entry points call)


def _python(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, cwd=tmp_path,
                          timeout=120, check=False)


def test_the_exit_status_and_all_of_a_long_output_arrive(tmp_path):
    rows = "".join(f'{{"messages": [{{"role": "user", "content": "review {i} " }},'
                   f' {{"role": "assistant", "content": "{i % 5 + 1}"}}]}}\n' for i in range(3000))
    (tmp_path / "train.jsonl").write_text(rows)
    done = _python("""
        from core.cli import main
        main(["validate", "train.jsonl", "--json"])
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)   # whole: a cut-off buffer would not parse

    (tmp_path / "bad.jsonl").write_text('{"messages": [}\n')
    done = _python("""
        from core.cli import main
        main(["validate", "bad.jsonl"])
    """, tmp_path)
    assert done.returncode == 1                    # the file has problems: the report says which
    assert b"too_few_examples" in done.stdout and b"Traceback" not in done.stderr

    done = _python("""
        from core.cli import main
        main(["validate", "missing.jsonl"])
    """, tmp_path)
    assert done.returncode == 2                    # a usage error, as click says it
    assert b"missing.jsonl" in done.stderr and b"Traceback" not in done.stderr


def test_atexit_handlers_run_and_a_running_thread_is_waited_for(tmp_path):
    done = _python("""
        import atexit, pathlib, threading, time
        atexit.register(lambda: pathlib.Path("atexit-ran").write_text("yes"))
        def late():
            time.sleep(0.5)
            pathlib.Path("thread-ended").write_text("yes")
        threading.Thread(target=late).start()
        from core.cli import main
        main(["--version"])
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert b"version" in done.stdout
    assert (tmp_path / "atexit-ran").read_text() == "yes"
    assert (tmp_path / "thread-ended").read_text() == "yes"


def test_without_other_threads_it_leaves_at_once_with_the_atexit_handlers_run(tmp_path):
    done = _python("""
        import atexit, os, pathlib
        atexit.register(lambda: pathlib.Path("atexit-ran").write_text("yes"))
        real = os._exit
        def leave(code):
            pathlib.Path("left-at-once").write_text(str(code))
            real(code)
        os._exit = leave
        from core.cli import main
        main(["--version"])
    """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "left-at-once").read_text() == "0"
    assert (tmp_path / "atexit-ran").read_text() == "yes"
