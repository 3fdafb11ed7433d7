"""Which names carry secrets, and how a document is shown with their values hidden (pure).

One rule for every place that shows items to a person (``hivekeeper tap``, and in time debug capture, logs and
rejection messages): a header, field or key whose name looks like a credential has its value replaced by
``[redacted]``. Names are compared case-insensitively with ``-`` and ``_`` ignored, so ``X-Api-Key``,
``x_api_key`` and ``XAPIKEY`` are one name; besides the exact names, any name that contains a credential word
(``token``, ``secret``, ``password``, ``apikey``, ``credential``, ``privatekey``) counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import orjson

REDACTED = "[redacted]"
EXACT_NAMES = frozenset({"authorization", "proxyauthorization", "cookie", "setcookie", "auth", "xauth"})
"""Secret names (normalised: lower case, no ``-`` or ``_``)."""
WORDS = ("token", "secret", "password", "passwd", "apikey", "credential", "privatekey")
"""A name containing one of these (normalised) is a secret name too."""
MAX_DEPTH = 32
"""How deep ``redact_tree`` descends (documents from the network are bounded, so is this walk)."""


def _normal(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether values under ``name`` are credentials (the defaults, plus the names in ``extra``)."""
    normal = _normal(name)
    return normal in EXACT_NAMES or any(word in normal for word in WORDS) or normal in {_normal(e) for e in extra}


def redact_tree(value: Any, extra: Iterable[str] = (), _depth: int = 0) -> Any:
    """A copy of ``value`` (JSON-like) with every secret-named key's value redacted, also inside strings that
    hold a JSON object or array (a rendered HTTP request travels as a JSON string in a WorkItem's payload)."""
    names = tuple(extra)
    if _depth > MAX_DEPTH:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_name(k, names) else redact_tree(v, names, _depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_tree(v, names, _depth + 1) for v in value]
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            inner = orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
        hidden = redact_tree(inner, names, _depth + 1)
        return orjson.dumps(hidden).decode() if hidden != inner else value
    return value


def got(path: Iterable[object], value: Any, show: Callable[[Any], str] = repr) -> str:
    """The `` (got VALUE)`` an error message adds: '' for a mapping, list or None (too long, or nothing to show),
    ``[redacted]`` when any name on ``path`` is a credential name, so a refused password is never echoed into
    outcomes, conditions or logs."""
    if isinstance(value, dict | list) or value is None:
        return ""
    if any(isinstance(part, str) and is_secret_name(part) for part in path):
        return f" (got {REDACTED})"
    return f" (got {show(value)})"
