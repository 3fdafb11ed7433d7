"""A CSV dataset read into memory (pure but for :func:`load`): its header names the columns, declared columns
are typed, and each row is kept as the JSON object an item carries as its payload.

The whole file is read and checked when the worker starts, so a bad cell stops the worker at once with its
row, column and value, never an hour into a run. Both the file size and the row count are bounded: the rows
live in the worker's memory (a ConfigMap holds at most 1 MiB anyway).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from hivekeeper.api.roles.inputs import CsvDatasetInput
from hivekeeper.errors import InvalidInput

MAX_FILE_BYTES = 16 * 1024 * 1024
"""Largest CSV file a worker reads (16 MiB)."""

MAX_ROWS = 200_000
"""Most data rows a CSV file may have (each is held in memory as a small JSON object)."""

_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off"})


class CsvError(InvalidInput, ValueError):
    """A CSV dataset cannot be used as it is; ``key`` is the ``inputs.csv`` key to look at (``filePath``, or
    ``columns.<name>``), and the message names the file, the row, the column and the value, and the fix."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True)
class CsvTable:
    """The rows of one CSV file, each as its JSON object (bytes, ready to be an item's payload)."""

    file: str
    """The file as the config names it (``inputs.csv.filePath``): what items and messages show."""
    columns: tuple[str, ...]
    rows: tuple[bytes, ...]

    def __len__(self) -> int:
        return len(self.rows)


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _int(text: str) -> int:
    return int(text.strip())


def _float(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):  # nan and inf are no JSON: refuse them here, not per item
        raise ValueError(text)
    return value


_PARSERS: dict[str, Callable[[str], Any]] = {"int": _int, "float": _float, "bool": _bool}
_EXPECTED = {"int": "a whole number", "float": "a number", "bool": "true/false (also yes/no, 1/0)"}


def parse(text: str, *, file: str, delimiter: str = ",", types: Mapping[str, str] | None = None) -> CsvTable:
    """The table of CSV ``text``: its first row is the header; ``types`` declares some columns' types.

    Raises :class:`CsvError` for a missing or blank header, a duplicate or empty column name, a declared
    column the header lacks, a row with another number of fields than the header, a cell that does not
    parse as its column's type, or more than :data:`MAX_ROWS` rows.
    """
    types = dict(types or {})
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(name.strip() for name in header):
            raise CsvError("filePath", f"{file}: no header row; the first row must name the columns (e.g. id,name)")
        columns = tuple(name.strip() for name in header)
        _check_header(columns, file, types)
        parsers = [(index, name, _PARSERS.get(types.get(name, "string"))) for index, name in enumerate(columns)]
        rows: list[bytes] = []
        for cells in reader:
            if not cells:
                continue  # a blank line is no row
            if len(rows) == MAX_ROWS:
                raise CsvError(
                    "filePath",
                    f"{file}: more than {MAX_ROWS} rows; split the file or load the rows into a Redis list "
                    "(inputs.type REDIS_DATASET)",
                )
            line = reader.line_num
            if len(cells) != len(columns):
                raise CsvError(
                    "filePath",
                    f"{file}: row {len(rows) + 1} (line {line}) has {len(cells)} fields but the header has "
                    f"{len(columns)} ({', '.join(columns)}); quote fields that contain {delimiter!r}",
                )
            rows.append(orjson.dumps(_row(cells, parsers, file, len(rows) + 1, line, types)))
    except csv.Error as exc:
        raise CsvError("filePath", f"{file}: line {reader.line_num}: {exc}; check the quoting") from exc
    return CsvTable(file, columns, tuple(rows))


def _check_header(columns: tuple[str, ...], file: str, types: Mapping[str, str]) -> None:
    for index, name in enumerate(columns):
        if not name:
            raise CsvError("filePath", f"{file}: header column {index + 1} has no name; name every column")
        if name in columns[:index]:
            raise CsvError(
                "filePath", f"{file}: column {name!r} appears twice in the header; give each column its own name"
            )
    for name in types:
        if name not in columns:
            raise CsvError(
                f"columns.{name}",
                f"{file}: inputs.csv.columns declares {name!r}, which the header lacks (columns: "
                f"{', '.join(columns)}); fix the name or the header",
            )


def _row(
    cells: list[str],
    parsers: list[tuple[int, str, Callable[[str], Any] | None]],
    file: str,
    row: int,
    line: int,
    types: Mapping[str, str],
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for index, name, parser in parsers:
        cell = cells[index]
        if parser is None:
            out[name] = cell
        elif not cell.strip():
            out[name] = None
        else:
            try:
                out[name] = parser(cell)
            except ValueError:
                kind = types[name]
                raise CsvError(
                    f"columns.{name}",
                    f"{file}: row {row} (line {line}), column {name!r}: {cell!r} is not {_EXPECTED[kind]} "
                    f"(the column is declared {kind}); fix the cell or declare the column string",
                ) from None
    return out


def resolve(config: CsvDatasetInput, base: Path) -> Path:
    """Where ``config.filePath`` is: as given when absolute, else under ``base`` (the manifest's directory
    locally, the mounted ConfigMap's in a pod)."""
    path = Path(config.filePath)
    return path if path.is_absolute() else base / path


def load(config: CsvDatasetInput, base: Path) -> CsvTable:
    """Read and parse the file of ``config`` (see :func:`parse`), bounded by :data:`MAX_FILE_BYTES`."""
    path = resolve(config, base)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise CsvError("filePath", f"{config.filePath}: no such file ({path}); {_where(config)}") from None
    except OSError as exc:
        raise CsvError("filePath", f"{config.filePath}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_FILE_BYTES:
        raise CsvError(
            "filePath",
            f"{config.filePath}: larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB; split it or load the rows "
            "into a Redis list (inputs.type REDIS_DATASET)",
        )
    try:
        text = data.decode("utf-8-sig")  # a BOM (spreadsheet exports) is not part of the first column's name
    except UnicodeDecodeError as exc:
        raise CsvError("filePath", f"{config.filePath}: not UTF-8 (byte {exc.start}); save the file as UTF-8") from None
    return parse(text, file=config.filePath, delimiter=config.delimiter, types=config.columns)


def _where(config: CsvDatasetInput) -> str:
    if Path(config.filePath).is_absolute():
        return "give a path that exists where the worker runs"
    if config.configMap:
        return f"on a cluster it must be a key of ConfigMap {config.configMap!r}; locally a file next to the manifest"
    return (
        "a relative path is read next to the manifest (on a cluster, set inputs.csv.configMap to the ConfigMap "
        "holding it)"
    )
