"""Which names carry secrets, and how a document is shown with their values hidden.

One rule for every place that shows items to a person (``hivekeeper tap``, debug capture, worker logs and
rejection messages in outcomes and conditions): a header, field or key whose name looks like a credential has
its value replaced by ``[redacted]``. Names are compared case-insensitively with ``-`` and ``_`` ignored, so
``X-Api-Key``, ``x_api_key`` and ``XAPIKEY`` are one name; besides the exact names, any name that contains a
credential word (``token``, ``secret``, ``password``, ``apikey``, ``credential``, ``privatekey``) counts.

The list is configurable in one place: ``HIVEKEEPER_REDACT`` (comma-separated names) adds names for every
place at once; a process reads it once at start (:func:`configure_from`). Callers may add more per use
(``debugCapture.redactHeaders``, ``hivekeeper tap --redact``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from hivekeeper.errors import InvalidInput

REDACTED = "[redacted]"
EXACT_NAMES = frozenset({"authorization", "proxyauthorization", "cookie", "setcookie", "auth", "xauth"})
"""Secret names (normalised: lower case, no ``-`` or ``_``)."""
WORDS = ("token", "secret", "password", "passwd", "apikey", "credential", "privatekey")
"""A name containing one of these (normalised) is a secret name too."""
MAX_DEPTH = 32
"""How deep ``redact_tree`` descends (documents from the network are bounded, so is this walk)."""


ENV = "HIVEKEEPER_REDACT"
MAX_CONFIGURED = 256
"""Names ``HIVEKEEPER_REDACT`` may add (a bound on what comes from the environment)."""
_CONFIGURED: dict[str, frozenset[str]] = {"names": frozenset()}
"""Names added for the whole process (normalised), set once at start by :func:`configure`."""


class RedactionConfigError(InvalidInput, ValueError):
    """``HIVEKEEPER_REDACT`` cannot be used; the message names the problem and the fix."""


def _normal(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


def configure(names: Iterable[str]) -> None:
    """Add ``names`` to the secret names of this process (every place that redacts honours them)."""
    normal = {_normal(n.strip()) for n in names if n.strip()}
    if len(normal) > MAX_CONFIGURED:
        raise RedactionConfigError(f"{ENV} lists {len(normal)} names; at most {MAX_CONFIGURED} are allowed")
    _CONFIGURED["names"] = frozenset(normal)


def configure_from(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Read ``HIVEKEEPER_REDACT`` (comma-separated names) and :func:`configure` them; returns the names."""
    names = tuple(n.strip() for n in environ.get(ENV, "").split(",") if n.strip())
    for name in names:
        if len(name) > 128 or not all(c.isalnum() or c in "-_." for c in name):
            raise RedactionConfigError(
                f"{ENV}: {name[:40]!r} is not a header or field name (letters, digits, '-', '_', '.'; "
                "up to 128 characters); separate names with commas"
            )
    configure(names)
    return names


def configured() -> frozenset[str]:
    return _CONFIGURED["names"]


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether values under ``name`` are credentials (the defaults, the configured names, and ``extra``)."""
    normal = _normal(name)
    return (
        normal in EXACT_NAMES
        or normal in _CONFIGURED["names"]
        or any(word in normal for word in WORDS)
        or normal in {_normal(e) for e in extra}
    )


def redact_headers(headers: Mapping[str, Any], extra: Iterable[str] = ()) -> dict[str, Any]:
    """``headers`` with every secret-named header's value redacted; a header with several values keeps its shape
    (a list of ``[redacted]``)."""
    names = tuple(extra)
    return {
        name: ([REDACTED] * len(value) if isinstance(value, list) else REDACTED)
        if is_secret_name(name, names)
        else value
        for name, value in headers.items()
    }


_PAIR = re.compile(
    r"""(?P<name>[A-Za-z][A-Za-z0-9_.-]{0,127})(?P<sep>"?\s*[:=]\s*"?)(?P<scheme>(?:bearer|basic|digest|token)\s+)?"""
    r"""(?P<value>[^\s"'&,;]+)""",
    re.IGNORECASE,
)


def redact_text(text: str, extra: Iterable[str] = ()) -> str:
    """``text`` (a log message, a form body, a JSON body) with the value after every secret name redacted:
    ``Authorization: Bearer abc`` -> ``Authorization: Bearer [redacted]``, ``token=abc&x=1`` ->
    ``token=[redacted]&x=1``, ``"password": "abc"`` -> ``"password": "[redacted]"``."""
    names = tuple(extra)

    def hide(match: re.Match[str]) -> str:
        if not is_secret_name(match["name"], names):
            return match[0]
        return f"{match['name']}{match['sep']}{match['scheme'] or ''}{REDACTED}"

    return _PAIR.sub(hide, text)


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
