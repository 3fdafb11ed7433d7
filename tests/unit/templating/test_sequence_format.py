"""sequence(key, mode, format): modes count in odometer order, formats pad and decorate, max/start wrap."""

from __future__ import annotations

import pytest

from hivekeeper.templating import sequence_format as sf
from hivekeeper.templating.engine import TemplateEngine, TemplateError


def _render(mode: str, fmt: str, values: list[int]) -> list[str]:
    spec = sf.compile_format(mode, fmt)
    return [spec.render(v) for v in values]


def test_alpha_counts_like_spreadsheet_columns_when_unpadded() -> None:
    assert _render("alpha", "%S", [1, 2, 26, 27, 28, 52, 53, 702, 703]) == [
        "A",
        "B",
        "Z",
        "AA",
        "AB",
        "AZ",
        "BA",
        "ZZ",
        "AAA",
    ]


def test_alpha_with_a_width_runs_like_an_odometer_from_all_a() -> None:
    assert _render("alpha", "%3S", [1, 2, 26, 27, 676, 677, 17576]) == [
        "AAA",
        "AAB",
        "AAZ",
        "ABA",
        "AZZ",
        "BAA",
        "ZZZ",
    ]


def test_every_mode_keeps_odometer_order() -> None:
    for mode in sf.MODES:
        for fmt in ("%s", "%4s"):
            texts = _render(mode, fmt, list(range(1, 300)))
            digits = sf.MODES[mode]
            assert texts == sorted(texts, key=lambda t: (len(t), [digits.index(c) for c in t])), (mode, fmt)
            assert len(set(texts)) == len(texts), (mode, fmt)


@pytest.mark.parametrize(
    ("mode", "fmt", "value", "expected"),
    [
        pytest.param("numeric", "%d", 42, "42", id="numeric-d"),
        pytest.param("numeric", "CUS-%06d", 42, "CUS-000042", id="zero-padded-with-literals"),
        pytest.param("numeric", "%s", 42, "42", id="numeric-s"),
        pytest.param("numeric", "%5S", 42, "00042", id="numeric-padded-S"),
        pytest.param("hex", "%S", 255, "FF", id="hex"),
        pytest.param("hex_lower", "0x%4s", 255, "0x00ff", id="hex-lower-padded"),
        pytest.param("hex_lower", "%S", 255, "FF", id="S-upper-cases"),
        pytest.param("binary", "%8s", 5, "00000101", id="binary-padded"),
        pytest.param("alphanum", "%s", 35, "Z", id="alphanum-last-digit"),
        pytest.param("alphanum", "%s", 36, "10", id="alphanum-carry"),
        pytest.param("alphanum_lower", "%3s", 71, "01z", id="alphanum-lower-padded"),
        pytest.param("alpha_lower", "%s", 28, "ab", id="alpha-lower"),
        pytest.param("alpha_lower", "%2s", 1, "aa", id="alpha-lower-padded"),
        pytest.param("alpha", "ID-%S/%d", 27, "ID-AA/27", id="two-conversions"),
        pytest.param("numeric", "100%% #%d", 7, "100% #7", id="literal-percent"),
        pytest.param("numeric", "%03d", 12345, "12345", id="width-is-a-minimum"),
    ],
)
def test_formats_write_the_value_in_the_mode(mode: str, fmt: str, value: int, expected: str) -> None:
    assert sf.compile_format(mode, fmt).render(value) == expected


def test_max_wraps_and_start_offsets() -> None:
    assert [sf.wrap(n, 1, 3) for n in range(1, 8)] == [1, 2, 3, 1, 2, 3, 1]
    assert [sf.wrap(n, 0, 3) for n in range(1, 8)] == [0, 1, 2, 0, 1, 2, 0]
    assert [sf.wrap(n, 100, 2) for n in range(1, 6)] == [100, 101, 100, 101, 100]
    assert [sf.wrap(n, 10, 0) for n in range(1, 4)] == [10, 11, 12]
    assert [sf.wrap(n) for n in range(1, 4)] == [1, 2, 3]


@pytest.mark.parametrize(
    ("mode", "fmt", "expected"),
    [
        pytest.param("roman", "%d", r"mode 'roman' is not a sequence mode; use one of numeric, alpha", id="mode"),
        pytest.param("numeric", "%x", r"'%x' at position 0 is not a conversion; use %d, %0Nd", id="conversion"),
        pytest.param("numeric", "ID-", r"format 'ID-' has no conversion for the number", id="no-conversion"),
        pytest.param("numeric", "%5d", r"would pad with spaces; use %05d", id="space-padding"),
        pytest.param("alpha", "%05S", r"already pads with the mode's zero digit", id="zero-flag-on-S"),
        pytest.param("numeric", "%0d", r"has width 0", id="width-zero"),
        pytest.param("numeric", "%100d", r"width 100 is above 64", id="width-too-large"),
        pytest.param("numeric", "%d %", r"'%' at position 3 is not a conversion", id="trailing-percent"),
    ],
)
def test_a_bad_mode_or_format_names_the_argument_and_the_accepted_values(mode: str, fmt: str, expected: str) -> None:
    with pytest.raises(sf.SequenceFormatError, match=expected):
        sf.compile_format(mode, fmt)


@pytest.mark.parametrize(
    ("mode", "start", "maximum", "expected"),
    [
        pytest.param("alpha", 0, 0, r"start 0 is below 1 in mode 'alpha' \(letters start at 1", id="alpha-zero"),
        pytest.param("numeric", -1, 0, r"start -1 is below 0", id="negative-start"),
        pytest.param("numeric", 1, -5, r"max -5 is negative", id="negative-max"),
        pytest.param("numeric", "one", 0, r"start 'one' is not an integer", id="start-not-int"),
        pytest.param("numeric", 1, True, r"max True is not an integer", id="max-bool"),
    ],
)
def test_bad_bounds_name_the_argument(mode: str, start: object, maximum: object, expected: str) -> None:
    with pytest.raises(sf.SequenceFormatError, match=expected):
        sf.check_bounds(mode, start, maximum)


def test_numeric_strings_are_accepted_as_bounds() -> None:
    assert sf.check_bounds("numeric", "5", "10") == (5, 10)
    assert sf.check_bounds("alpha", 1, None) == (1, 0)


def test_alpha_refuses_a_value_below_one() -> None:
    with pytest.raises(sf.SequenceFormatError, match=r"value 0 cannot be written in mode 'alpha'"):
        sf.compile_format("alpha", "%S").render(0)


# -- through the template engine -------------------------------------------------------------------


async def test_sequence_with_mode_and_format_renders_per_item() -> None:
    engine = TemplateEngine()
    source = "{{ sequence('cust', 'alpha', 'CUS-%3S') }} {{ sequence('order', format='ORD-%05d') }}"
    rendered = [await engine.render_async("t", source, {}) for _ in range(3)]
    assert rendered == ["CUS-AAA ORD-00001", "CUS-AAB ORD-00002", "CUS-AAC ORD-00003"]


async def test_sequence_with_wraps_at_max_from_start() -> None:
    engine = TemplateEngine()
    source = "{{ sequenceWith('slot', 'numeric', 'S%02d', 7, 3) }}"
    rendered = [await engine.render_async("t", source, {}) for _ in range(5)]
    assert rendered == ["S07", "S08", "S09", "S07", "S08"]


async def test_plain_sequence_still_returns_a_number() -> None:
    engine = TemplateEngine()
    assert await engine.render_async("t", "{{ sequence('n') + 10 }}", {}) == "11"
    assert await engine.render_async("t", "{{ sequence('n', 'numeric', '%d') * 2 }}", {}) == "4"


async def test_a_bad_call_is_a_render_error_and_burns_no_number() -> None:
    engine = TemplateEngine()
    with pytest.raises(TemplateError, match=r"template 't' line 1: sequence\('k', 'hexx', '%d'\): mode 'hexx'"):
        await engine.render_async("t", "{{ sequence('k', 'hexx') }}", {})
    with pytest.raises(TemplateError, match=r"sequenceWith\('k', 'alpha', '%S', 0, 0\): start 0 is below 1"):
        await engine.render_async("t", "{{ sequenceWith('k', 'alpha', '%S', 0, 0) }}", {})
    assert await engine.render_async("t", "{{ sequence('k') }}", {}) == "1"


def test_sequence_with_is_refused_where_a_value_is_rendered_once() -> None:
    engine = TemplateEngine()
    with pytest.raises(TemplateError, match=r"use sequence\(\) and sequenceWith\(\) in message or request"):
        engine.render("baseUrl", "http://x/{{ sequenceWith('n', 'numeric', '%d', 1, 5) }}", {})
