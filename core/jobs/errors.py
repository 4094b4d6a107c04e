"""API failures as one line a user can act on."""

from __future__ import annotations

from core.errors import BackendError
from core.keys import redact

NOT_DEPLOYED = ("the model is not deployed{where}: on Azure a fine-tuned model answers only through a deployment "
                "of it; create one (Azure AI Foundry > Deployments, or `az cognitiveservices account deployment "
                "create`) and give the deployment name as the model")


class TrainingNotAvailable(BackendError):
    """A 403 training_not_available; ``uploaded`` names the files the failed launch uploaded."""

    def __init__(self, message: str, *, uploaded: list[str] | None = None, **kw) -> None:
        self.uploaded = list(uploaded or [])
        super().__init__(message, **kw)


def _deployment(exc) -> str | None:
    """The deployment name in an Azure data-plane URL (/openai/deployments/NAME/...)."""
    request = getattr(exc, "request", None)
    path = str(getattr(request, "url", "") or "")
    marker = "/openai/deployments/"
    if marker not in path:
        return None
    return path.split(marker, 1)[1].split("/", 1)[0] or None


def _retry_after(exc) -> str:
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    value = headers.get("retry-after-ms")
    if value:
        return f"retry in {float(value) / 1000:g} s"
    value = headers.get("retry-after")
    return f"retry in {value} s" if value else "retry in a minute"


def explain(exc: BaseException, backend: str | None = None) -> BackendError:
    """Turn an openai exception (or a connection failure) into a BackendError with what to do."""
    import openai

    where = f" ({backend})" if backend else ""
    if isinstance(exc, openai.APIStatusError):
        body = exc.body if isinstance(exc.body, dict) else {}
        code = body.get("code") or getattr(exc, "code", None)
        message = redact(str(body.get("message") or exc.message))
        status = exc.status_code
        if status == 401:
            text = f"the API key was refused{where}: {message}"
            hint = "check OPENAI_API_KEY (or AZURE_OPENAI_API_KEY) in your environment"
        elif status == 403 and code == "training_not_available":
            from core.jobs.lifecycle import wind_down_message

            return TrainingNotAvailable(f"fine-tuning is not available to this organization{where}: "
                                        f"{wind_down_message()}", status=status, code=code)
        elif status == 404 and code == "DeploymentNotFound":
            name = _deployment(exc)
            text, hint = NOT_DEPLOYED.format(where=f" ({name!r}{', ' + backend if backend else ''})" if name
                                             else where), None
        elif status == 403:
            text, hint = f"permission denied{where}: {message}", "check the key's project and its permissions"
        elif status == 404:
            text = f"not found{where}: {message}"
            hint = "the model may be unknown or retired, or the id belongs to another backend; `startune jobs` lists jobs"
        elif status == 429:
            daily = "daily" in message.lower() or "per day" in message.lower()
            text = f"{'daily job limit' if daily else 'rate limit'} reached{where}: {message}"
            hint = "retry tomorrow" if daily else _retry_after(exc)
        elif status == 400 and code in ("invalid_training_file", "invalid_validation_file", "invalid_file_format"):
            text, hint = f"the file was rejected{where}: {message}", "run `startune validate FILE` to see every problem"
        elif status >= 500:
            text, hint = f"the server failed{where} (HTTP {status}): {message}", "retry in a moment"
        else:
            param = body.get("param")
            text = f"request refused{where} (HTTP {status}{', ' + param if param else ''}): {message}"
            hint = None
        return BackendError(text, hint=hint, status=status, code=code)
    if isinstance(exc, openai.APITimeoutError):
        return BackendError(f"the request timed out{where}", hint="check your network, then retry")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return BackendError(f"cannot reach the backend{where}: {redact(str(cause)) or cause.__class__.__name__}",
                            hint="check the base URL and your network")
    return BackendError(redact(f"{exc.__class__.__name__}: {exc}"))
