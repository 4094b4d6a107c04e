"""What startune keeps of the API's job objects: the registry's runs, the app's followed jobs and every
``--json`` output hold this one shape."""

from __future__ import annotations


def as_record(obj) -> dict:
    """An openai object (a FineTuningJob, one of its events) as startune keeps it: the fields the backend
    sent, in JSON form. Unset fields are left out, so nothing is invented for a server that lacks them and
    a server's own extras (Azure's trainingType) stay; a dict already is a record."""
    return obj.model_dump(mode="json", exclude_unset=True) if hasattr(obj, "model_dump") else dict(obj)
