"""Issue 29 item 8: a full disk, a read-only folder, a read-only STARTUNE_HOME and an output folder that is a
mount point. Each case runs in a private mount namespace (``unshare -m``) on a small tmpfs mounted there
alone, so nothing outside the test sees it; where that is not allowed (no root, no unshare) they skip."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "assets" / "sample_reviews.csv"


def _can_mount() -> bool:
    if shutil.which("unshare") is None or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False
    probe = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c",
                            "d=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs $d"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _can_mount(), reason="needs root and unshare -m to mount a private tmpfs")


def in_namespace(mounts: dict[Path, str], command: list[str], env: dict | None = None, *,
                 popen: bool = False, timeout: float = 60):
    """``command`` in a private mount namespace where each path is a fresh tmpfs with the given options."""
    script = "set -e\n" + "".join(f"mkdir -p {shlex.quote(str(p))}\nmount -t tmpfs -o {opts} tmpfs "
                                  f"{shlex.quote(str(p))}\n" for p, opts in mounts.items())
    script += "exec " + " ".join(map(shlex.quote, command))
    args = ["unshare", "-m", "--propagation", "private", "sh", "-c", script]
    env = os.environ | {"PYTHONPATH": str(REPO)} | (env or {})
    if popen:
        return subprocess.Popen(args, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)


def startune(*args) -> list[str]:
    return [sys.executable, "-m", "core", *map(str, args)]


def one_line(done) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr[-2000:])
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("startune: error: "), done.stderr[-2000:]
    return lines[0]


def test_prepare_onto_a_full_disk_is_one_line(tmp_path):
    disk = tmp_path / "disk"
    line = one_line(in_namespace({disk: "size=200k"}, startune("prepare", SAMPLE, "--out", disk / "out")))
    assert f"{disk / 'out'}: no space left on the disk" in line, line


def test_prepare_into_a_read_only_folder_is_one_line(tmp_path):
    disk = tmp_path / "ro"
    line = one_line(in_namespace({disk: "size=1m,ro"}, startune("prepare", SAMPLE, "--out", disk / "out")))
    assert f"{disk / 'out'}: read-only file system" in line, line


def test_a_read_only_startune_home_is_one_line(tmp_path):
    home = tmp_path / "home"
    done = in_namespace({home: "size=1m,ro"}, startune("prepare", SAMPLE, "--out", tmp_path / "out"),
                        env={"STARTUNE_HOME": str(home)})
    line = one_line(done)
    assert "read-only file system" in line and f"STARTUNE_HOME={home} must be a writable folder" in line, line


def test_prepare_writes_into_the_root_of_a_mount_point_twice(tmp_path):
    volume = tmp_path / "volume"
    check = (f"{sys.executable} -m core prepare {SAMPLE} --out {volume} --seed 1 --json > {tmp_path}/first.json && "
             f"{sys.executable} -m core prepare {SAMPLE} --out {volume} --seed 2 --json > {tmp_path}/second.json && "
             f"ls -A {volume} > {tmp_path}/listing && cp {volume}/manifest.json {tmp_path}/manifest.json")
    done = in_namespace({volume: "size=20m"}, ["sh", "-c", check])
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "listing").read_text().split() == [".startune.lock", "manifest.json", "test.jsonl",
                                                          "train.jsonl", "val.jsonl"]
    assert orjson.loads((tmp_path / "manifest.json").read_bytes())["seed"] == 2


def test_a_full_disk_on_the_server_is_a_clear_error_the_sdk_does_not_retry(tmp_path):
    import httpx2
    import openai

    from tests.fixtures.backend import free_port, wait_serving

    data, port = tmp_path / "data", free_port()
    server = in_namespace({data: "size=2m"}, startune("serve", "--port", port, "--data-dir", data / "backend"),
                          popen=True)
    try:
        wait_serving(port, server)
        sent = []
        http = httpx2.Client(event_hooks={"request": [sent.append]})
        client = openai.OpenAI(api_key="x", base_url=f"http://127.0.0.1:{port}/v1", max_retries=3, http_client=http)
        big = tmp_path / "big.jsonl"
        big.write_bytes(b'{"prompt": "x", "completion": "y"}\n' * 100_000)
        with pytest.raises(openai.APIStatusError) as info:
            client.files.create(file=big, purpose="fine-tune")
        assert info.value.status_code == 507 and info.value.code == "insufficient_storage", info.value.body
        assert "Free some disk space" in info.value.message
        assert len(sent) == 1, "the SDK retried a full disk"
        assert client.models.list().data, "the server stopped answering"
    finally:
        server.kill()
        server.wait(10)
    assert "Traceback" not in server.stderr.read()
