"""Schemathesis against the local backend: OpenAI's spec (with the documented patches of openapi_check),
cut down to the operations the backend implements, run by schemathesis' CLI against a 127.0.0.1 server.

Used by test_fuzz.py (a short, seeded run) and benchmarks/fuzz_backend.py (the long run, by hand).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.core.backend.openapi_check import spec

IMPLEMENTED = {
    "/files": ("get", "post"),
    "/files/{file_id}": ("get", "delete"),
    "/files/{file_id}/content": ("get",),
    "/fine_tuning/jobs": ("get", "post"),
    "/fine_tuning/jobs/{fine_tuning_job_id}": ("get",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/cancel": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/pause": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/resume": ("post",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/events": ("get",),
    "/fine_tuning/jobs/{fine_tuning_job_id}/checkpoints": ("get",),
    "/models": ("get",),
    "/models/{model}": ("get", "delete"),
    "/chat/completions": ("post",),
    "/completions": ("post",),
}

# Valid by the schema, yet a job request can only be served when its model is one this backend trains and its
# files exist here; OpenAI answers 400 to the others too (invalid training_file, model not available).
CONFIG = """\
[[operations]]
include-path = "/fine_tuning/jobs"
include-method = "POST"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "403", "404", "409", "429"]
"""


# Known false positive of schemathesis 4.32 (long runs only): a negative case that makes the multipart field
# `expires_after` an empty array serialises to no field at all, a valid upload; the server cannot tell.


def fuzz_spec(*, auth: bool) -> dict:
    """The conformance spec, cut down to what the local backend serves. Without ``auth`` the server runs
    without a key (loopback only), so the spec's bearer requirement is dropped."""
    full = copy.deepcopy(spec())
    paths = {}
    for path, methods in IMPLEMENTED.items():
        item = full["paths"][path]
        paths[path] = {k: v for k, v in item.items() if k in methods or k not in ("get", "post", "delete")}
    full["paths"] = paths
    # A query string carries text only: metadata[k]=null or metadata[k]=5 *is* the string "null" or "5",
    # which the schema allows, so the fuzzer may not count such a filter as invalid.
    for param in paths["/fine_tuning/jobs"]["get"]["parameters"]:
        if param["name"] == "metadata":
            param["schema"] = {**param["schema"], "additionalProperties": True}
    if not auth:
        full.pop("security", None)
        full["components"].pop("securitySchemes", None)
    return full


def write_spec(folder: Path, *, auth: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"openapi-{'auth' if auth else 'open'}.yaml"
    # yaml, not json: the loaded spec holds dates and integers beyond 64 bits
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    target.write_text(yaml.dump(fuzz_spec(auth=auth), Dumper=dumper, sort_keys=False), encoding="utf-8")
    (folder / "schemathesis.toml").write_text(CONFIG, encoding="utf-8")
    return target


def run_schemathesis(spec_path: Path, base_url: str, *, max_examples: int, seed: int, api_key: str | None = None,
                     workers: int = 1, extra: tuple[str, ...] = (), timeout: float | None = None
                     ) -> subprocess.CompletedProcess:
    """schemathesis run with every check; exit code 0 means no failure."""
    cmd = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(spec_path.parent / "schemathesis.toml"),
           "run", str(spec_path), "--url", base_url, "--checks", "all", "--max-examples", str(max_examples),
           "--seed", str(seed), "--workers", str(workers), "--no-color", "--warnings", "off", *extra]
    if api_key is not None:
        cmd += ["--header", f"Authorization: Bearer {api_key}"]
    env = {**os.environ, "SCHEMATHESIS_HOOKS": ""}
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=spec_path.parent, timeout=timeout)
