"""Reading a CSV dataset: the header names the columns, declared columns are typed, and every problem is
refused when the worker starts with the file, row, column and value it is about."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from hivekeeper.api import roles as role_configs
from hivekeeper.api.roles import ConfigError
from hivekeeper.api.roles.inputs import CsvDatasetInput
from hivekeeper.worker.inputs import csv_table
from hivekeeper.worker.inputs.csv_table import CsvError, load, parse


def rows(table: csv_table.CsvTable) -> list[dict[str, object]]:
    return [orjson.loads(row) for row in table.rows]


def test_the_header_names_the_columns_and_each_row_becomes_an_object_of_strings() -> None:
    table = parse("id,name\n1,Ann\n2,Bob\n", file="people.csv")
    assert table.columns == ("id", "name")
    assert rows(table) == [{"id": "1", "name": "Ann"}, {"id": "2", "name": "Bob"}]


def test_declared_columns_are_typed_and_an_empty_typed_cell_is_null() -> None:
    text = "id,amount,active,note\n7,12.5,yes,x\n8,,0,\n"
    table = parse(text, file="t.csv", types={"id": "int", "amount": "float", "active": "bool"})
    assert rows(table) == [
        {"id": 7, "amount": 12.5, "active": True, "note": "x"},
        {"id": 8, "amount": None, "active": False, "note": ""},
    ]


@pytest.mark.parametrize(
    ("kind", "cell", "expected"),
    [
        ("int", "12x", "a whole number"),
        ("float", "abc", "a number"),
        ("float", "nan", "a number"),
        ("bool", "maybe", "true/false"),
    ],
)
def test_a_cell_that_does_not_parse_names_the_row_the_line_the_column_and_the_value(
    kind: str, cell: str, expected: str
) -> None:
    with pytest.raises(CsvError) as caught:
        parse(f"id,v\n1,0\n2,{cell}\n", file="data.csv", types={"v": kind})
    message = str(caught.value)
    assert "data.csv: row 2 (line 3), column 'v'" in message
    assert f"{cell!r} is not {expected}" in message
    assert f"declared {kind}" in message
    assert caught.value.key == "columns.v"


def test_quoted_fields_may_hold_the_delimiter_and_newlines_and_another_delimiter_is_honoured() -> None:
    assert rows(parse('a;b\n"x;y";"two\nlines"\n', file="f.csv", delimiter=";")) == [{"a": "x;y", "b": "two\nlines"}]


def test_blank_lines_are_no_rows_and_surrounding_spaces_in_header_names_are_dropped() -> None:
    assert rows(parse(" id , name \n\n1,Ann\n\n", file="f.csv")) == [{"id": "1", "name": "Ann"}]


@pytest.mark.parametrize(
    ("text", "types", "fragment"),
    [
        ("", {}, "no header row"),
        ("\n\n", {}, "no header row"),
        ("id,name,id\n1,a,2\n", {}, "column 'id' appears twice"),
        ("id,,name\n1,2,3\n", {}, "header column 2 has no name"),
        ("id,name\n1,Ann\n", {"amount": "int"}, "declares 'amount', which the header lacks"),
        ("id,name\n1,Ann,extra\n", {}, "row 1 (line 2) has 3 fields but the header has 2"),
    ],
)
def test_a_broken_file_is_refused_with_what_is_wrong_and_the_fix(
    text: str, types: dict[str, str], fragment: str
) -> None:
    with pytest.raises(CsvError, match=r"f\.csv") as caught:
        parse(text, file="f.csv", types=types)
    assert fragment in str(caught.value)


def test_more_rows_than_the_bound_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_table, "MAX_ROWS", 3)
    assert len(parse("n\n1\n2\n3\n", file="f.csv")) == 3
    with pytest.raises(CsvError, match="more than 3 rows"):
        parse("n\n1\n2\n3\n4\n", file="f.csv")


def test_a_relative_file_is_read_under_the_given_directory_and_a_bom_is_not_part_of_a_name(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_bytes(b"\xef\xbb\xbfid\n1\n")
    table = load(CsvDatasetInput(filePath="d.csv", columns={"id": "int"}), tmp_path)
    assert table.file == "d.csv"
    assert rows(table) == [{"id": 1}]


def test_a_missing_file_says_where_it_was_looked_for_and_how_to_provide_it(tmp_path: Path) -> None:
    with pytest.raises(CsvError) as caught:
        load(CsvDatasetInput(filePath="gone.csv", configMap="people"), tmp_path)
    message = str(caught.value)
    assert str(tmp_path / "gone.csv") in message
    assert "ConfigMap 'people'" in message
    assert caught.value.key == "filePath"


def test_a_file_above_the_size_bound_or_not_utf8_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "big.csv").write_text("id\n" + "1\n" * 100)
    monkeypatch.setattr(csv_table, "MAX_FILE_BYTES", 50)
    with pytest.raises(CsvError, match="larger than"):
        load(CsvDatasetInput(filePath="big.csv"), tmp_path)
    (tmp_path / "latin.csv").write_bytes(b"name\nJos\xe9\n")
    with pytest.raises(CsvError, match="not UTF-8"):
        load(CsvDatasetInput(filePath="latin.csv"), tmp_path)


def test_an_unknown_column_type_or_a_missing_block_is_a_located_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        role_configs.validate(
            "generator", {"inputs": {"type": "CSV_DATASET", "csv": {"filePath": "a.csv", "columns": {"id": "integer"}}}}
        )
    [(path, message)] = caught.value.problems
    assert path == "inputs.csv.columns.id"
    assert "'string', 'int', 'float' or 'bool'" in message
    with pytest.raises(ConfigError, match=r"type CSV_DATASET needs inputs\.csv with filePath"):
        role_configs.validate("generator", {"inputs": {"type": "CSV_DATASET"}})
