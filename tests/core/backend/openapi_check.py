"""Validate every response the tests receive against OpenAI's own OpenAPI spec (../shared).

Install ``Conformance.hook`` as an httpx2 response hook on the client; each response is matched to
its path template and status, and its JSON body is validated with the spec's schema.
"""

from __future__ import annotations

import copy
import functools
import re
from pathlib import Path

import orjson

SPEC = Path(__file__).resolve().parents[3].parent / "shared" / "openai-openapi" / "openapi.yaml"


@functools.cache
def spec() -> dict:
    import yaml

    assert SPEC.is_file(), f"{SPEC} is missing: the conformance tests need ../shared beside the checkout"
    loaded = yaml.load(SPEC.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    patched = copy.deepcopy(loaded)
    _fix_boolean_exclusive_minimum(patched)
    # The spec's FineTuningJob.status enum predates pause/resume, whose own paths return a paused job.
    status = patched["components"]["schemas"]["FineTuningJob"]["properties"]["status"]
    status["enum"] = [*status["enum"], "paused"]
    # An upload may have purpose "evals" (CreateFileRequest), but the File object's enum forgot it.
    purpose = patched["components"]["schemas"]["OpenAIFile"]["properties"]["purpose"]
    purpose["enum"] = [*purpose["enum"], "evals"]
    _document_errors(patched)
    _bound_limits(patched)
    # File content is the file's bytes (JSONL here), not a JSON string as the spec's content type says.
    content = patched["paths"]["/files/{file_id}/content"]["get"]["responses"]["200"]
    content["content"] = {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    return patched


# The spec lists only the success status of most operations, yet OpenAI answers these in its error shape
# (ErrorResponse): 400 bad request, 401 bad key, 404 unknown object, 413 body too large, 429 rate limit,
# and 403 where an action is refused (deleting a base model, training denied to the organisation).
ERROR_STATUSES = (400, 401, 404, 413, 429)
FORBIDDEN = {("post", "/fine_tuning/jobs"), ("delete", "/models/{model}")}


def _document_errors(doc: dict) -> None:
    error = {"description": "An error, in OpenAI's error shape.",
             "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "delete"):
                continue
            statuses = ERROR_STATUSES + ((403,) if (method, path) in FORBIDDEN else ())
            for status in statuses:
                op["responses"].setdefault(str(status), error)


def _bound_limits(doc: dict) -> None:
    """``limit`` parameters are bare integers in the spec; OpenAI rejects a limit below 1 (and, for files,
    above 10,000, as that parameter's description says)."""
    for path, item in doc["paths"].items():
        for op in item.values():
            for param in op.get("parameters", []) if isinstance(op, dict) else ():
                if param.get("name") == "limit" and param.get("in") == "query":
                    param["schema"] = {**param["schema"], "minimum": 1}
                    if path == "/files":
                        param["schema"]["maximum"] = 10_000


def _fix_boolean_exclusive_minimum(node) -> None:
    """A few schemas keep OpenAPI 3.0's boolean ``exclusiveMinimum: true`` in this 3.1 document; under
    JSON Schema 2020-12 that reads as "greater than 1". Restore the meaning its authors wrote."""
    if isinstance(node, dict):
        if node.get("exclusiveMinimum") is True:
            node["exclusiveMinimum"] = node.pop("minimum", 0)
        for value in node.values():
            _fix_boolean_exclusive_minimum(value)
    elif isinstance(node, list):
        for value in node:
            _fix_boolean_exclusive_minimum(value)


@functools.cache
def _templates() -> list[tuple[re.Pattern, str]]:
    out = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\{model\}", r"(?P<model>.+)", template)
        pattern = re.sub(r"\{[^}]+\}", r"[^/]+", pattern)
        out.append((re.compile(f"^{pattern}$"), template))
    # literal paths before templated ones: /fine_tuning/jobs/{id}/events must not match /models/{model}
    out.sort(key=lambda pt: (pt[1].count("{"), -len(pt[1])))
    return out


def match(path: str) -> str | None:
    path = path.removeprefix("/v1")
    for pattern, template in _templates():
        if pattern.match(path):
            return template
    return None


@functools.cache
def _validator(ref: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    root = Resource(contents=spec(), specification=DRAFT202012)
    registry = Registry().with_resource("urn:openai", root)
    return Draft202012Validator({"$ref": f"urn:openai{ref}"}, registry=registry)


def schema_ref(template: str, method: str, status: int) -> str | None:
    if status >= 400:
        return "#/components/schemas/ErrorResponse"
    responses = spec()["paths"][template][method.lower()]["responses"]
    schema = (responses.get(str(status)) or responses.get("200") or {}).get("content", {}).get(
        "application/json", {}).get("schema")
    if schema is None or "$ref" not in schema:
        return None  # e.g. file content: raw bytes
    return schema["$ref"]


class Conformance:
    def __init__(self) -> None:
        self.checked: list[tuple[str, str, int]] = []
        self.failures: list[str] = []

    def check(self, method: str, path: str, status: int, body: bytes) -> None:
        template = match(path)
        if template is None:
            self.failures.append(f"{method} {path}: no such path in the spec")
            return
        ref = schema_ref(template, method, status)
        self.checked.append((method, template, status))
        if ref is None:
            return
        errors = sorted(_validator(ref).iter_errors(orjson.loads(body)), key=lambda e: list(e.path))
        for error in errors[:3]:
            self.failures.append(f"{method} {template} {status}: {'/'.join(map(str, error.path))}: {error.message[:300]}")

    async def hook(self, response) -> None:
        if response.status_code in (429, 500) or response.request.url.path.endswith("/content") and response.status_code == 200:
            return
        await response.aread()
        self.check(response.request.method, response.request.url.path, response.status_code, response.content)

    def assert_ok(self) -> None:
        assert not self.failures, "responses that break the OpenAPI spec:\n" + "\n".join(self.failures)
