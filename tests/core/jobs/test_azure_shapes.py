"""The Azure path against the local backend answering in Azure's shapes, with the real AzureOpenAI client."""

from __future__ import annotations

import openai
import orjson
import pytest

from tests.core.jobs.conftest import AZURE_KEY, deploy


def _json(result):
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


async def test_azure_client_uploads_creates_with_training_type_and_sees_azure_statuses(tmp_path, chat_files):
    from core.backend.embedded import EmbeddedBackend

    train, _ = chat_files
    async with EmbeddedBackend(tmp_path / "b", azure=True, start_runner=False) as backend:
        client = backend.azure_client()
        assert isinstance(client, openai.AsyncAzureOpenAI)
        file = await client.files.create(file=train.open("rb"), purpose="fine-tune")
        job = await client.fine_tuning.jobs.create(model="startune-local", training_file=file.id,
                                                   extra_body={"trainingType": "globalstandard"})
        assert job.status == "created"  # Azure's name for validating_files
        assert job.model_extra["trainingType"] == "GlobalStandard"
        again = await client.fine_tuning.jobs.retrieve(job.id)
        assert again.model_extra["trainingType"] == "GlobalStandard"
        listed = (await client.fine_tuning.jobs.list()).data
        assert [j.status for j in listed] == ["created"]
        with pytest.raises(openai.BadRequestError, match="trainingType must be one of"):
            await client.fine_tuning.jobs.create(model="startune-local", training_file=file.id,
                                                 extra_body={"trainingType": "Premium"})
        # without api-version Azure answers 404, whatever the path
        plain = backend.client()
        plain_http = plain._client
        response = await plain_http.get("http://startune.local/openai/models")
        assert response.status_code == 404


def test_azure_statuses_are_explained():
    from core.status import describe, is_waiting

    assert describe("pending") == "pending: waiting to start (Azure)" and is_waiting("created")
    assert describe("running") == "running" and not is_waiting("succeeded")


def test_launch_follow_deploy_and_evaluate_on_azure(run_cli, sample_csv, tmp_path, azure_server):
    _json(run_cli("prepare", sample_csv, "--out", tmp_path / "b", "--samples", "train=120,val=30,test=30", "--json"))
    launched = run_cli("launch", tmp_path / "b", "--backend", "azure", "--azure-training-type", "developer",
                       "--model", "startune-local", "--epochs", "1", "--follow", "--json")
    data = _json(launched)
    job = data["job"]
    assert job["status"] == "succeeded" and job["trainingType"] == "Developer"
    assert AZURE_KEY not in launched.output  # only ever masked
    model = job["fine_tuned_model"]
    listed = _json(run_cli("models", "--backend", "azure", "--as-of", "2026-11-25", "--json"))
    assert [m["id"] for m in listed["models"]] == [model] and listed["backend"].startswith("azure:")
    assert "succeeded" in run_cli("jobs", "--backend", "azure").output
    # the fine-tuned model answers only once deployed: one line that says so
    test = tmp_path / "b" / "test.jsonl"
    result = run_cli("evaluate", model, "--data", test, "--backend", "azure", "--limit", "5")
    assert result.exit_code == 2
    line = result.output.strip().splitlines()[-1]
    assert line.startswith("startune: error: the model is not deployed") and "deployment" in line
    assert model in line and "Traceback" not in result.output
    deploy(azure_server, model)
    scored = _json(run_cli("evaluate", model, "--data", test, "--backend", "azure", "--limit", "5", "--json"))
    assert scored["n"] == 5 and scored["unparseable"] == 0


def test_training_type_is_refused_off_azure(run_cli, chat_files):
    train, _ = chat_files
    result = run_cli("launch", train.parent, "--backend", "local", "--azure-training-type", "Standard")
    assert result.exit_code == 2 and "--azure-training-type is for Azure OpenAI" in result.output
