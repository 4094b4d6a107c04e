"""OpenAI's Node SDK (tests/node, `npm ci` there) streams a chat completion from a local fine-tuned model
over real HTTP. Skipped where node or the package is missing, unless STARTUNE_REQUIRE_NODE_SDK=1 (CI)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

import openai
import orjson
import pytest

from tests.core.backend.helpers import wait_for
from tests.fixtures.backend import write_chat_jsonl

NODE_DIR = Path(__file__).resolve().parents[2] / "node"
REQUIRE = "STARTUNE_REQUIRE_NODE_SDK"


@pytest.fixture
def node() -> str:
    found = shutil.which("node")
    missing = (None if found and (NODE_DIR / "node_modules" / "openai").is_dir() else
               "node is not installed" if not found else f"run `npm ci` in {NODE_DIR}")
    if missing:
        if os.environ.get(REQUIRE) == "1":
            pytest.fail(f"{missing}; {REQUIRE}=1 requires the Node SDK test", pytrace=False)
        pytest.skip(f"skipped: {missing}")
    return found


def test_the_node_sdk_streams_a_fine_tuned_models_answer(node, backend_server, tmp_path):
    client = openai.OpenAI(api_key="unused", base_url=backend_server.base_url)
    train = client.files.create(file=write_chat_jsonl(tmp_path / "train.jsonl", 60), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model="startune-local", training_file=train.id)

    async def done_job():
        async with openai.AsyncOpenAI(api_key="unused", base_url=backend_server.base_url) as api:
            return await wait_for(api, job.id, timeout=120)

    done = asyncio.run(done_job())
    assert done.status == "succeeded", done.error
    ran = subprocess.run([node, str(NODE_DIR / "stream_chat.mjs"), backend_server.base_url, done.fine_tuned_model,
                          job.id], capture_output=True, text=True, timeout=60, cwd=NODE_DIR)
    assert ran.returncode == 0, ran.stderr[-3000:]
    seen = orjson.loads(ran.stdout.strip().splitlines()[-1])
    assert seen["streamed"] == seen["whole"] and seen["whole"] in {"1", "2", "3", "4", "5"}
    assert seen["role"] == "assistant" and seen["finish"] == ["stop"]
    assert seen["usage"] == seen["wholeUsage"]
    assert seen["requestId"] and seen["requestId"].startswith("req_")
    assert seen["jobStatus"] == "succeeded"
