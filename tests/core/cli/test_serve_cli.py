def test_serve_refuses_a_public_host_without_a_key(run_cli):
    result = run_cli("serve", "--host", "0.0.0.0")
    assert result.exit_code == 2
    assert "refusing to listen on 0.0.0.0 without --api-key" in result.output


def test_fault_spec_errors_are_one_line(run_cli):
    result = run_cli("serve", "--faults", "429=lots")
    assert result.exit_code == 2 and "fault '429' needs a number" in result.output


# --- issue 18: user mistakes are one line and exit 2; the server stops on SIGTERM -------------------

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def _serve(*args, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "core", "serve", *map(str, args)], cwd=REPO, text=True,
                            env=os.environ | {"PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("args, says", [
    (["--port", "99999"], "--port 99999: use a port from 1 to 65535"),
    (["--data-dir", "/proc/nope"], "/proc/nope: cannot use it as the data folder"),
    (["--pace", "-1"], "--pace -1.0: use 0 or more seconds per step"),
    (["--pace", "nan"], "--pace nan"),
    (["--faults", "429=-1"], "fault '429' is -1: use a share from 0 to 1"),
    (["--faults", "latency=nan"], "fault 'latency' is nan: use 0 or more seconds"),
    (["--faults", "drop=2"], "fault 'drop' is 2"),
    (["--devices", "0"], "--devices (or STARTUNE_DEVICES) '0': auto (every CUDA device torch sees), or a whole"),
    (["--devices", "two"], "--devices (or STARTUNE_DEVICES) 'two'"),
])
def test_bad_serve_values_are_one_line(args, says):
    proc = _serve("--port", _free_port(), *args)
    try:
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 2, err
    assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
    assert err.startswith("startune: error: ") and says in err


def test_a_port_in_use_is_one_line():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        proc = _serve("--port", taken.getsockname()[1])
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "Traceback" not in err
    assert err.strip().splitlines() == [err.strip()] and "pick another --port" in err


def _wait_for_banner(proc) -> str:
    line = proc.stderr.readline()
    assert "startune local backend on" in line, line
    return line


def test_sigterm_stops_the_server_with_a_request_in_flight(tmp_path):
    port = _free_port()
    proc = _serve("--port", port, "--data-dir", tmp_path / "d")
    try:
        _wait_for_banner(proc)
        client = socket.create_connection(("127.0.0.1", port))
        # an upload that never finishes sending its body: the request stays in flight
        client.sendall(b"POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                       b"Content-Length: 100000\r\n\r\n--b\r\n")
        time.sleep(0.5)
        start = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        assert time.monotonic() - start < 15
        client.close()
    finally:
        proc.kill()
        proc.wait()


def test_banner_brackets_ipv6_and_key_comes_from_the_environment(tmp_path):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = _free_port()
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback here")
    proc = subprocess.Popen([sys.executable, "-m", "core", "serve", "--host", "::1", "--port", str(port),
                             "--data-dir", str(tmp_path / "d")], cwd=REPO, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env=os.environ | {"PYTHONPATH": str(REPO), "STARTUNE_SERVE_API_KEY": "sk-serve-test-1234"})
    try:
        banner = _wait_for_banner(proc)
        assert f"http://[::1]:{port}/v1" in banner and "bearer key required" in banner
        import httpx2

        assert httpx2.get(f"http://[::1]:{port}/v1/models").status_code == 401
        ok = httpx2.get(f"http://[::1]:{port}/v1/models", headers={"Authorization": "Bearer sk-serve-test-1234"})
        assert ok.status_code == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
