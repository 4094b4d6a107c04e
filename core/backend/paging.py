"""List endpoints' query parameters and pages, as OpenAI's are: ``limit``, ``order``, and a page with
first_id / last_id / has_more."""

from __future__ import annotations

from starlette.requests import Request

from core.backend.errors import bad_request


def limit_param(request: Request, default: int, maximum: int = 10_000, *, strict: bool = False) -> int:
    """The ``limit`` query parameter: at least 1; above ``maximum`` it is an error only where OpenAI documents
    the bound (``strict``), elsewhere a page is simply capped."""
    raw = request.query_params.get("limit")
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f"Invalid limit: {raw!r}", param="limit") from None
    if value < 1 or strict and value > maximum:
        raise bad_request(f"limit must be between 1 and {maximum}", param="limit")
    return min(value, maximum)


def order_param(request: Request) -> str:
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise bad_request(f"Invalid order: {order!r}. Expected 'asc' or 'desc'.", param="order")
    return order


def page_of(items: list, limit: int) -> dict:
    # the spec types first_id/last_id as strings: an empty page has empty ones, not nulls
    page = items[:limit]
    return {"object": "list", "data": page, "first_id": page[0]["id"] if page else "",
            "last_id": page[-1]["id"] if page else "", "has_more": len(items) > limit}
