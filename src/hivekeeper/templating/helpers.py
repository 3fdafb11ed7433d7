"""Functions templates can call: ids, randomness, weighted picks, time, hashing, lookups.

Every helper is pure apart from randomness and the clock, except ``sequence``, whose counter lives
behind the :class:`Sequences` port (in memory locally, Redis in a cluster). Errors are sentences
that name the helper, the bad argument and the fix; the engine adds the template and line.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import re
import time
from collections.abc import Callable
from typing import Any, Protocol

import orjson

from hivekeeper.errors import InvalidInput
from hivekeeper.protocol.workitem import new_message_id
from hivekeeper.templating import jsonpointer, regex, sequence_format


class HelperError(InvalidInput, ValueError):
    """A helper was called with arguments it cannot use."""


class Sequences(Protocol):
    """Monotonic named counters (``sequence('orders')`` → 1, 2, 3, ...), shared by every worker that
    uses the same store (Redis ``INCR`` in a cluster)."""

    async def next(self, key: str) -> int: ...


class MemorySequences:
    """Counters in this process: the in-memory twin of the Redis-backed sequences."""

    def __init__(self) -> None:
        self._values: dict[str, int] = {}

    async def next(self, key: str) -> int:
        value = self._values.get(key, 0) + 1
        self._values[key] = value
        return value


def sequence_helpers(sequences: Sequences) -> dict[str, Callable[..., Any]]:
    """``sequence(key, mode='numeric', format='%d')`` and ``sequenceWith(key, mode, format, start, max)``.

    The counter is the store's (``INCR``, shared by every worker on it); ``sequence_format`` turns it
    into text. Arguments are checked before the counter moves, so a bad call burns no numbers. With
    the format ``%d`` the result is the number itself (``sequence('k') + 1`` works), else a string.
    """

    def checked(call: str, key: Any, mode: Any, fmt: Any) -> tuple[str, sequence_format.SequenceFormat]:
        if not isinstance(key, str | int) or isinstance(key, bool) or str(key) == "":
            raise HelperError(f"{call}: key {key!r} must be a non-empty string, e.g. sequence('orders')")
        try:
            return str(key), sequence_format.compile_format(str(mode), str(fmt))
        except sequence_format.SequenceFormatError as exc:
            raise HelperError(f"{call}: {exc}") from exc

    def result(call: str, spec: sequence_format.SequenceFormat, fmt: str, value: int) -> int | str:
        if fmt == "%d":
            return value
        try:
            return spec.render(value)
        except sequence_format.SequenceFormatError as exc:
            raise HelperError(f"{call}: {exc}") from exc

    async def sequence(key: Any, mode: Any = "numeric", format: Any = "%d") -> int | str:
        call = f"sequence({key!r}, {mode!r}, {format!r})"
        name, spec = checked(call, key, mode, format)
        return result(call, spec, str(format), await sequences.next(name))

    async def sequence_with(
        key: Any,
        mode: Any = "numeric",
        format: Any = "%d",
        start: Any = 1,
        max: Any = 0,
    ) -> int | str:
        call = f"sequenceWith({key!r}, {mode!r}, {format!r}, {start!r}, {max!r})"
        name, spec = checked(call, key, mode, format)
        try:
            first, cycle = sequence_format.check_bounds(spec.mode, start, max)
        except sequence_format.SequenceFormatError as exc:
            raise HelperError(f"{call}: {exc}") from exc
        value = sequence_format.wrap(await sequences.next(name), first, cycle)
        return result(call, spec, str(format), value)

    return {"sequence": sequence, "sequenceWith": sequence_with}


def rand_int(low: int | str, high: int | str) -> int:
    """A uniformly random integer in ``[low, high]`` (both inclusive; numeric strings allowed)."""
    try:
        lo, hi = int(low), int(high)
    except (TypeError, ValueError) as exc:
        raise HelperError(f"randInt({low!r}, {high!r}): both bounds must be integers") from exc
    if lo > hi:
        raise HelperError(f"randInt({lo}, {hi}): the lower bound is above the upper bound; swap them")
    return random.randint(lo, hi)


def _weighted_pairs(name: str, args: tuple[Any, ...]) -> tuple[list[Any], list[float]]:
    if not args or len(args) % 2:
        raise HelperError(f"{name}(value, weight, ...) needs pairs of value and weight; got {len(args)} arguments")
    values, weights = list(args[0::2]), []
    for value, weight in zip(args[0::2], args[1::2], strict=True):
        try:
            w = float(weight)
        except (TypeError, ValueError) as exc:
            raise HelperError(f"{name}: weight {weight!r} of {value!r} is not a number") from exc
        if w < 0:
            raise HelperError(f"{name}: weight {w:g} of {value!r} is negative; weights must be >= 0")
        weights.append(w)
    if sum(weights) <= 0:
        raise HelperError(f"{name}: the weights add up to 0; give at least one value a positive weight")
    return values, weights


def pick_weighted(*args: Any) -> Any:
    """``pickWeighted('balance', 70, 'topup', 30)``: one value, chosen in proportion to its weight."""
    values, weights = _weighted_pairs("pickWeighted", args)
    return random.choices(values, weights)[0]


class SeededPicks:
    """``pickWeightedSeeded(label, seed, v1, w1, ...)``: a repeatable stream of picks per label."""

    def __init__(self) -> None:
        self._streams: dict[tuple[str, Any], random.Random] = {}

    def pick(self, label: str, seed: Any, *args: Any) -> Any:
        values, weights = _weighted_pairs("pickWeightedSeeded", args)
        stream = self._streams.get((label, seed))
        if stream is None:
            stream = self._streams[(label, seed)] = random.Random(f"{label}:{seed}")
        return stream.choices(values, weights)[0]

    def reseed(self) -> None:
        self._streams.clear()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


_iso_second: list[Any] = [-1, ""]  # the last whole second nowIso() wrote, and its text


def now_iso() -> str:
    """``nowIso()``: UTC now to the second (``2026-11-28T11:30:46Z``), as ``dateFormat()`` writes it; formatted
    once per second (templates call it per item, and strftime is most of its cost)."""
    second = int(time.time())
    if second != _iso_second[0]:
        text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _iso_second[0], _iso_second[1] = second, text
    return str(_iso_second[1])


_JAVA_TOKENS = [
    ("yyyy", "%Y"),
    ("yy", "%y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "{ms}"),
    ("XXX", "{tz}"),
    ("Z", "{tzz}"),
]


def _java_to_strftime(pattern: str) -> str:
    out, i = [], 0
    while i < len(pattern):
        if pattern[i] == "'":
            end = pattern.find("'", i + 1)
            out.append(pattern[i + 1 : end if end > 0 else len(pattern)])
            i = end + 1 if end > 0 else len(pattern)
            continue
        for java, py in _JAVA_TOKENS:
            if pattern.startswith(java, i):
                out.append(py)
                i += len(java)
                break
        else:
            out.append(pattern[i])
            i += 1
    return "".join(out)


def date_format(instant: dt.datetime | str | None = None, pattern: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """Format a UTC time; ``pattern`` is strftime (``%Y-%m-%d``) or Java style (``yyyy-MM-dd``)."""
    if instant is None:
        moment = now()
    elif isinstance(instant, str):
        try:
            moment = dt.datetime.fromisoformat(instant.replace("Z", "+00:00"))
        except ValueError as exc:
            raise HelperError(f"dateFormat: {instant!r} is not an ISO 8601 time") from exc
    else:
        moment = instant
    moment = moment.astimezone(dt.UTC)
    fmt = pattern if "%" in pattern else _java_to_strftime(pattern)
    text = moment.strftime(fmt)
    return text.replace("{ms}", f"{moment.microsecond // 1000:03d}").replace("{tz}", "Z").replace("{tzz}", "+0000")


_OFFSET = re.compile(r"^\s*([+-]?)(\d+)\s*(s|sec|m|min|h|d|w|M|month|y|year)s?\s*$")


def date_offset(offset: str, pattern: str = "%Y-%m-%dT%H:%M:%SZ") -> str:
    """``dateOffset('+2d')``: now shifted by an offset (s, m, h, d, w, M/month, y/year), formatted."""
    match = _OFFSET.match(offset)
    if not match:
        raise HelperError(f"dateOffset: {offset!r} is not an offset such as '+2d', '-1month' or '3h'")
    sign = -1 if match.group(1) == "-" else 1
    amount, unit = sign * int(match.group(2)), match.group(3)
    moment = now()
    if unit in ("M", "month", "y", "year"):
        months = amount * (12 if unit in ("y", "year") else 1)
        year, month = divmod(moment.month - 1 + months, 12)
        day = min(moment.day, 28)
        moment = moment.replace(year=moment.year + year, month=month + 1, day=day)
    else:
        seconds = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
        moment = moment + dt.timedelta(seconds=amount * seconds)
    return date_format(moment, pattern)


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def b64encode(value: Any) -> str:
    return base64.b64encode(_bytes(value)).decode()


def b64decode(value: Any) -> str:
    try:
        return base64.b64decode(_bytes(value), validate=True).decode("utf-8", "replace")
    except ValueError as exc:
        raise HelperError(f"base64Decode: {str(value)[:40]!r} is not valid base64") from exc


def md5_hex(value: Any) -> str:
    return hashlib.md5(_bytes(value), usedforsecurity=False).hexdigest()


def sha256_hex(value: Any) -> str:
    return hashlib.sha256(_bytes(value)).hexdigest()


def hmac_sha256_hex(key: Any, value: Any) -> str:
    return hmac.new(_bytes(key), _bytes(value), hashlib.sha256).hexdigest()


def json_pointer(document: Any, pointer: str, default: Any = "") -> Any:
    """``jsonPointer(payload, '/customer/id')``; a JSON string document is parsed first."""
    if isinstance(document, str | bytes):
        try:
            document = orjson.loads(document)
        except orjson.JSONDecodeError:
            return default
    try:
        found = jsonpointer.resolve(document, pointer)
    except jsonpointer.PointerError as exc:
        raise HelperError(f"jsonPointer: {exc}") from exc
    return default if found is jsonpointer.MISSING else found


def regex_extract(value: Any, pattern: str, group: int = 1) -> str:
    """The ``group`` of the first match of ``pattern`` in ``value``, or "" when nothing matches.

    Patterns run on RE2 (``templating.regex``): linear time, no backreferences or lookaround.
    """
    try:
        match = regex.search("regexExtract", pattern, str(value))
    except regex.RegexError as exc:
        raise HelperError(str(exc)) from exc
    if not match:
        return ""
    try:
        return str(match.group(group) or "")
    except IndexError as exc:
        raise HelperError(f"regexExtract: pattern {pattern!r} has no group {group}") from exc


def regex_match(value: Any, pattern: str) -> bool:
    """Whether ``pattern`` matches somewhere in ``value`` (RE2, like :func:`regex_extract`)."""
    try:
        return regex.search("regexMatch", pattern, str(value)) is not None
    except regex.RegexError as exc:
        raise HelperError(str(exc)) from exc


def from_json(value: Any) -> Any:
    try:
        return orjson.loads(_bytes(value))
    except orjson.JSONDecodeError as exc:
        raise HelperError(f"fromJson: {str(value)[:40]!r} is not valid JSON") from exc


def to_json(value: Any) -> str:
    return orjson.dumps(value, default=str).decode()


def uses_sequence(source: str) -> bool:
    """Whether a template calls ``sequence(`` or ``sequenceWith(`` (it then renders asynchronously, see the
    engine)."""
    return "sequence(" in source or "sequenceWith(" in source


def globals_for(picks: SeededPicks) -> dict[str, Callable[..., Any]]:
    """The helper functions as template globals (camelCase, PocketHive-compatible names).

    ``sequence`` and ``sequenceWith`` are not here: they are awaited, so only the engine's asynchronous
    environment has them (:func:`sequence_helpers`).
    """
    return {
        "uuid": new_message_id,  # str(uuid.uuid4()), faster
        "randInt": rand_int,
        "randLong": rand_int,
        "pickWeighted": pick_weighted,
        "pickWeightedSeeded": picks.pick,
        "now": now,
        "nowIso": now_iso,
        "dateFormat": date_format,
        "dateOffset": date_offset,
        "base64": b64encode,
        "base64Decode": b64decode,
        "md5": md5_hex,
        "sha256": sha256_hex,
        "hmacSha256": hmac_sha256_hex,
        "jsonPointer": json_pointer,
        "regexExtract": regex_extract,
        "regexMatch": regex_match,
        "fromJson": from_json,
        "toJson": to_json,
    }


FILTERS: dict[str, Callable[..., Any]] = {
    "base64": b64encode,
    "base64Decode": b64decode,
    "md5": md5_hex,
    "sha256": sha256_hex,
    "fromJson": from_json,
    "toJson": to_json,
    "jsonPointer": json_pointer,
}
