"""``hivekeeper run`` refuses options that make no sense, naming the option, the value and the fix."""

from __future__ import annotations

import pytest

from hivekeeper.cli import parser


def _refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        parser().parse_args(["run", *argv])
    assert exited.value.code == 2
    return capsys.readouterr().err


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "700000"])
def test_a_duration_that_is_not_a_positive_bounded_number_of_seconds_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    said = _refused(["--duration", value], capsys)
    assert f"--duration {value}: must be more than 0 and at most 604800 seconds" in said
    assert "leave it out to run until Ctrl-C" in said


def test_a_duration_that_is_no_number_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert "'soon' is not a number of seconds" in _refused(["--duration", "soon"], capsys)


@pytest.mark.parametrize("value", ["0", "0.05", "-1", "7200"])
def test_an_interval_outside_a_tenth_of_a_second_to_an_hour_is_refused(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"--interval {value}: must be at least 0.1 and at most 3600 seconds" in _refused(
        ["--interval", value], capsys
    )


def test_sensible_options_pass() -> None:
    args = parser().parse_args(["run", "--duration", "2.5", "--interval", "0.1", "--sut", "http://127.0.0.1:1"])
    assert (args.duration, args.interval, args.sut, args.demo_sut) == (2.5, 0.1, ["http://127.0.0.1:1"], False)
    named = parser().parse_args(["run", "--demo-sut", "--sut", "auth=http://127.0.0.1:2", "--sut", "http://h:1"])
    assert (named.sut, named.demo_sut) == (["auth=http://127.0.0.1:2", "http://h:1"], True)
    assert parser().parse_args(["run"]).duration is None, "no duration: until Ctrl-C"


def test_a_bad_hivekeeper_redact_stops_every_command_with_the_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hivekeeper.cli import main
    from hivekeeper.protocol import redaction

    saved = redaction.configured()
    monkeypatch.setenv("HIVEKEEPER_REDACT", "x-tenant, not a name")
    try:
        assert main(["version"]) == 2
    finally:
        redaction.configure(saved)
    assert "HIVEKEEPER_REDACT: 'not a name' is not a header or field name" in capsys.readouterr().err


def test_tap_takes_more_names_to_redact() -> None:
    args = parser().parse_args(["tap", "s", "--redact", "X-Tenant", "--redact", "sessionRef"])
    assert args.redact == ["X-Tenant", "sessionRef"]


def test_a_broker_url_of_another_scheme_is_an_error_line_not_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    from hivekeeper.cli import main

    assert main(["run", "--broker", "ftp://broker.invalid", "--duration", "1"]) == 2

    err = capsys.readouterr().err
    assert err.startswith("error: the broker URL must start with amqp:// or amqps:// (got ftp://)")
    assert "Traceback" not in err
