"""Shared decoding for wire messages: JSON object first, then the model, errors as sentences."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def describe(exc: ValidationError) -> str:
    """``path: problem; path: problem`` for every error pydantic found."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors())


def decode(body: bytes, model: type[M], what: str, error: type[ValueError]) -> M:
    """Parse ``body`` as a JSON object into ``model``; any problem raises ``error`` naming it."""
    try:
        raw: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        preview = body[:80].decode("utf-8", "replace")
        raise error(f"{what} is not valid JSON ({exc}); body starts {preview!r}") from exc
    if not isinstance(raw, dict):
        raise error(f"{what} must be a JSON object, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise error(f"{what} does not match {model.__name__} v1: {describe(exc)}") from exc
