"""The verdict: thresholds judged on a run's figures, and a run in which nothing succeeded fails."""

from __future__ import annotations

from hivekeeper.api.run import RunSpec
from hivekeeper.api.verdict import Figures, RoleFigures, verdict

RUN = RunSpec.model_validate(
    {
        "duration": "1m",
        "thresholds": [
            {"role": "caller", "metric": "p95", "max": 300},
            {"role": "caller", "metric": "errorRate", "max": 0.01},
            {"role": "caller", "metric": "status5xxRate", "max": 0.05},
            {"role": "feeder", "metric": "achievedRate", "min": 0.9},
        ],
    }
)


def _roles(*, p95: float = 120.0, errors: int = 0, codes: dict[str, int] | None = None) -> list[RoleFigures]:
    return [
        RoleFigures(role="feeder", kind="generator", processed=1000, targetRate=100.0, achievedRate=95.0),
        RoleFigures(
            role="caller",
            kind="processor",
            processed=1000,
            errors=errors,
            statusCodes=codes or {"200": 990, "503": 10},
            latencyMs={"p50": 20.0, "p95": p95, "p99": 400.0},
        ),
    ]


def test_a_run_within_every_threshold_passes_with_each_observed_value() -> None:
    judged = verdict(RUN, _roles())

    assert judged.result == "Passed"
    assert judged.reason == "all 4 thresholds held"
    assert [(t.threshold, t.observed, t.passed) for t in judged.thresholds] == [
        ("caller p95 <= 300", 120.0, True),
        ("caller errorRate <= 0.01", 0.0, True),
        ("caller status5xxRate <= 0.05", 0.01, True),
        ("feeder achievedRate >= 0.9", 0.95, True),
    ]


def test_a_slow_p95_fails_the_run_naming_the_threshold_and_the_value() -> None:
    judged = verdict(RUN, _roles(p95=450.0))

    assert judged.result == "Failed"
    assert judged.reason == "1 of 4 thresholds failed: caller p95 <= 300: observed 450 (failed)"


def test_errors_and_5xx_are_fractions_of_the_items_and_of_the_answers() -> None:
    judged = verdict(RUN, _roles(errors=20, codes={"200": 900, "502": 80}))

    failed = {t.threshold: t.observed for t in judged.thresholds if not t.passed}
    assert failed == {"caller errorRate <= 0.01": 0.02, "caller status5xxRate <= 0.05": 80 / 980}


def test_a_threshold_with_nothing_measured_fails_and_says_so() -> None:
    run = RunSpec.model_validate({"duration": "1m", "thresholds": [{"role": "caller", "metric": "p99", "max": 1}]})
    roles = [RoleFigures(role="feeder", kind="generator", processed=10), RoleFigures(role="caller", kind="processor")]

    judged = verdict(run, roles)

    assert judged.result == "Failed"
    assert judged.thresholds[0].observed is None
    assert "not measured" in judged.thresholds[0].message


def test_without_thresholds_a_run_where_every_call_failed_fails() -> None:
    roles = [
        RoleFigures(role="feeder", kind="generator", processed=400),
        RoleFigures(role="caller", kind="processor", processed=400, errors=400),
    ]

    judged = verdict(None, roles)

    assert judged.result == "Failed"
    assert judged.reason == "nothing succeeded: role caller made 400 calls and none succeeded (400 errors)"


def test_without_thresholds_a_run_where_nothing_was_handled_or_everything_dropped_fails() -> None:
    assert verdict(None, [RoleFigures(role="feeder", kind="generator")]).reason == (
        "nothing succeeded: no role handled a single item"
    )
    dropped = [RoleFigures(role="shaper", kind="moderator", processed=50, dropped=50)]
    assert verdict(None, dropped).reason == "nothing succeeded: every item was dropped"


def test_without_thresholds_a_run_where_items_succeeded_passes() -> None:
    judged = verdict(None, _roles())
    assert (judged.result, judged.reason) == ("Passed", "no thresholds; items succeeded")


def test_a_step_threshold_reads_the_steps_figures() -> None:
    run = RunSpec.model_validate(
        {"duration": "1m", "thresholds": [{"role": "journey", "step": "login", "metric": "p95", "max": 100}]}
    )
    journey = RoleFigures(
        role="journey",
        kind="http-sequence",
        processed=10,
        steps={"login": Figures(processed=10, latencyMs={"p95": 80})},
    )

    assert verdict(run, [journey]).thresholds[0].observed == 80


def test_the_junit_report_has_a_case_per_threshold_and_one_for_items_succeeding() -> None:
    from xml.etree import ElementTree as ET

    from hivekeeper.local.junit import junit_xml

    root = ET.fromstring(junit_xml([("cards", verdict(RUN, _roles(p95=450.0)), 60.0)]))

    [suite] = root.findall("testsuite")
    assert (suite.get("name"), suite.get("tests"), suite.get("failures"), suite.get("time")) == (
        "cards",
        "5",
        "1",
        "60.000",
    )
    names = [case.get("name") for case in suite.findall("testcase")]
    assert names == [
        "items succeeded",
        "caller p95 <= 300",
        "caller errorRate <= 0.01",
        "caller status5xxRate <= 0.05",
        "feeder achievedRate >= 0.9",
    ]
    [failed] = [case for case in suite.findall("testcase") if case.find("failure") is not None]
    assert failed.get("name") == "caller p95 <= 300"
    assert failed.find("failure").get("message") == "caller p95 <= 300: observed 450 (failed)"  # type: ignore[union-attr]
