"""The WorkItem's hot paths skip pydantic's generic code (construction without validation, orjson for the JSON)
but build the same models and write the same bytes as pydantic would."""

from __future__ import annotations

import datetime as dt
import enum
import random
import struct
import uuid
from collections import OrderedDict
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from hivekeeper.protocol import workitem
from hivekeeper.protocol.workitem import Hop, Observability, Step, WorkItem


def _item(headers: dict[str, Any] | None = None) -> WorkItem:
    item = workitem.new_item(
        '{"cardId": 7}',
        swarm="demo",
        service="generator",
        instance="gen-0",
        headers={"x-ph-call-id": "c", **(headers or {})},
    )
    grown = item.with_step("second", service="request-builder", instance="rb-0", headers={"x-ph-template": "k"})
    grown.observability.hops.append(workitem.new_hop("request-builder", "rb-0", workitem.now(), workitem.now()))
    return grown


def _pydantic_json(item: WorkItem) -> bytes:
    return item.__pydantic_serializer__.to_json(item)


@pytest.mark.parametrize("model", [WorkItem, Step, Observability, Hop])
def test_the_models_built_without_validation_have_no_private_attributes_and_forbid_extras(
    model: type[BaseModel],
) -> None:
    assert model.__private_attributes__ == {}
    assert model.model_config.get("extra") == "forbid"


def test_a_built_item_is_the_model_validation_would_build_with_every_field_in_declaration_order() -> None:
    item = _item()
    assert WorkItem.model_validate(item.model_dump()) == item
    for model in [item, *item.steps, item.observability, *item.observability.hops]:
        assert list(model.__dict__) == list(type(model).model_fields), type(model).__name__
        assert model.__pydantic_extra__ is None
        assert model.__pydantic_private__ is None


def test_a_built_model_counts_every_field_as_set_as_model_construct_does() -> None:
    hop = workitem.new_hop("s", "s-0", "2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:00.000001Z")
    constructed = Hop.model_construct(
        service="s", instance="s-0", receivedAt="2026-01-01T00:00:00.000000Z", processedAt="2026-01-01T00:00:00.000001Z"
    )
    assert hop == constructed
    assert hop.model_fields_set == constructed.model_fields_set


def test_appending_a_step_copies_the_item_as_model_copy_does() -> None:
    parsed = workitem.parse(_item().to_json())
    steps = [*parsed.steps, parsed.steps[-1]]
    grown = workitem._copied(parsed, "steps", steps)
    expected = parsed.model_copy(update={"steps": steps})
    assert grown == expected
    assert grown.model_fields_set == expected.model_fields_set
    assert grown.headers is parsed.headers, "a shallow copy, as pydantic's"
    assert grown.steps is not parsed.steps


def test_an_item_is_written_byte_for_byte_as_pydantic_writes_it() -> None:
    item = _item({"vars": {"currency": "EUR", "nested": [1, 2.5, None, True]}, "x-ph-seq": 12})
    assert item.to_json() == _pydantic_json(item)


class Colour(enum.Enum):
    RED = "red"


class Name(str):
    pass


class Size(enum.IntEnum):
    SMALL = 1


class Ratio(float):
    pass


@pytest.mark.parametrize(
    "value",
    [
        pytest.param([0.0, -0.0, 0.1, 1 / 3, 1e-7, 1e16, 1e21, 1e22, 5e-324, 1.7976931348623157e308], id="floats"),
        pytest.param([float("nan"), float("inf"), -float("inf")], id="nan-and-infinities"),
        pytest.param([2**63 - 1, -(2**63), 2**64 - 1], id="64-bit-ints"),
        pytest.param(2**64, id="an-int-past-64-bits"),
        pytest.param("".join(map(chr, range(0x80))) + "\u2028\u2029é€😀\ud7ff\ue000", id="text-and-control-characters"),
        pytest.param((1, "two", [3]), id="a-tuple"),
        pytest.param({1: "int key"}, id="a-non-string-key"),
        pytest.param({"a", "b"} - {"b"}, id="a-set"),
        pytest.param(b"bytes", id="bytes"),
        pytest.param(dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), id="a-datetime"),
        pytest.param(dt.date(2026, 1, 2), id="a-date"),
        pytest.param(uuid.UUID("12345678-1234-5678-1234-567812345678"), id="a-uuid"),
        pytest.param(Colour.RED, id="an-enum"),
        pytest.param(Name("subclass of str"), id="a-str-subclass"),
        pytest.param(Size.SMALL, id="an-int-enum"),
        pytest.param(Ratio(1.5), id="a-float-subclass"),
        pytest.param(OrderedDict(a=1), id="a-dict-subclass"),
        pytest.param(Decimal("1.10"), id="a-decimal"),
        pytest.param(dt.timedelta(seconds=3), id="a-timedelta"),
        pytest.param(Step(index=0, payload="p"), id="a-model-in-a-header"),
    ],
)
def test_whatever_a_header_holds_the_item_is_written_as_pydantic_writes_it(value: object) -> None:
    item = _item({"value": value})
    assert item.to_json() == _pydantic_json(item)


def test_a_value_pydantic_cannot_write_fails_as_it_did() -> None:
    item = _item({"value": "a lone \ud800 surrogate"})
    with pytest.raises(PydanticSerializationError, match="surrogates not allowed"):
        item.to_json()


def test_random_floats_are_written_as_pydantic_writes_them() -> None:
    rnd = random.Random(19)
    values = [struct.unpack("d", struct.pack("Q", rnd.getrandbits(64)))[0] for _ in range(2000)]
    values += [round(rnd.uniform(0, 10_000), rnd.randint(0, 6)) for _ in range(2000)]
    item = _item({"values": values})
    assert item.to_json() == _pydantic_json(item)


def test_message_ids_are_random_version_4_uuids_in_their_usual_text() -> None:
    ids = [workitem.new_message_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == text
    bits = {i: {(int(uuid.UUID(text)) >> i) & 1 for text in ids} for i in range(128)}
    fixed = {i for i, seen in bits.items() if len(seen) == 1}
    assert fixed == {76, 77, 78, 79, 62, 63}, "only the version and variant bits are the same in every id"
