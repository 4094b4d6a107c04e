"""API errors become one line with what to do; the key never shows."""

from __future__ import annotations

import httpx2
import openai
import pytest

from core.jobs.errors import explain
from core.keys import mask_key, redact
from tests.fixtures.backend import ServerThread

KEY = "sk-proj-SECRETsecret0123456789abcdWXYZ"


def _error(cls, status, body, headers=None):
    request = httpx2.Request("POST", "https://api.openai.com/v1/fine_tuning/jobs")
    response = httpx2.Response(status, request=request, headers=headers or {}, json={"error": body})
    return cls(body.get("message", ""), response=response, body=body)


@pytest.mark.parametrize(("exc", "expected"), [
    (_error(openai.AuthenticationError, 401, {"message": f"Incorrect API key provided: {KEY}", "code": "invalid_api_key"}),
     ["API key was refused", "sk-...WXYZ", "check OPENAI_API_KEY"]),
    (_error(openai.PermissionDeniedError, 403, {"message": "no", "code": "training_not_available"}),
     ["not available to this organization", "2026-07-02", "2027-01-06", "--backend local", "Azure"]),
    (_error(openai.NotFoundError, 404, {"message": "The model `gpt-2` does not exist", "code": "model_not_found"}),
     ["not found", "gpt-2", "unknown or retired"]),
    (_error(openai.RateLimitError, 429, {"message": "Rate limit reached", "code": "rate_limit_exceeded"},
            {"retry-after": "20"}), ["rate limit reached", "retry in 20 s"]),
    (_error(openai.RateLimitError, 429, {"message": "You have reached the daily limit of fine-tuning jobs"}),
     ["daily job limit", "retry tomorrow"]),
    (_error(openai.BadRequestError, 400, {"message": "Invalid file format on line 7", "code": "invalid_training_file",
                                          "param": "training_file"}), ["file was rejected", "line 7", "startune validate"]),
    (openai.APIConnectionError(request=httpx2.Request("GET", "http://127.0.0.1:9/v1/models")),
     ["cannot reach the backend", "base URL"]),
])
def test_each_error_is_one_actionable_line(exc, expected):
    text = str(explain(exc))
    assert "\n" not in text
    for part in expected:
        assert part in text
    assert KEY not in text


def test_mask_and_redact(monkeypatch):
    assert mask_key(KEY) == "sk-...WXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert redact(f"token {KEY} used") == "token sk-...WXYZ used"


def test_the_key_never_reaches_disk_or_output(run_cli, sample_csv, tmp_path, monkeypatch, isolated_home, capfd):
    server = ServerThread(tmp_path / "served", api_key=KEY).start()
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    try:
        ok = run_cli("run", sample_csv, "--out", tmp_path / "b", "--samples", "train=100,val=20,test=20",
                     "--base-url", server.base_url)
        assert ok.exit_code == 0, ok.output
        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong-" + KEY[9:])
        refused = run_cli("jobs", "--base-url", server.base_url)
        assert refused.exit_code == 2 and "API key was refused" in refused.output
    finally:
        server.stop()
    captured = capfd.readouterr()
    outputs = ok.output + refused.output + captured.out + captured.err
    assert KEY not in outputs and KEY[9:] not in outputs
    for path in [*isolated_home.rglob("*"), *(tmp_path / "b").rglob("*")]:
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
            assert KEY[9:].encode() not in path.read_bytes(), path
