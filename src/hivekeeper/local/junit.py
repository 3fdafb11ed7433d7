"""The verdict as a JUnit XML report: one test case per threshold (and one for "items succeeded"), so CI systems
show a run's thresholds the way they show unit tests."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from hivekeeper.api.verdict import Verdict

SUCCEEDED_CASE = "items succeeded"
"""The case every run has: a run in which nothing succeeded fails it, thresholds or not."""


def junit_xml(runs: list[tuple[str, Verdict, float]]) -> bytes:
    """``runs``: (swarm name, verdict, seconds run) each; one ``testsuite`` per swarm."""
    suites = ET.Element("testsuites", name="hivekeeper run")
    for swarm, verdict, seconds in runs:
        nothing = verdict.reason.startswith("nothing succeeded")
        cases = [(SUCCEEDED_CASE, not nothing, verdict.reason if nothing else "")]
        cases += [(t.threshold, t.passed, t.message) for t in verdict.thresholds]
        failures = sum(1 for _, passed, _ in cases if not passed)
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=swarm,
            tests=str(len(cases)),
            failures=str(failures),
            errors="0",
            time=f"{seconds:.3f}",
        )
        for name, passed, message in cases:
            case = ET.SubElement(suite, "testcase", classname=f"hivekeeper.{swarm}", name=name, time="0")
            if not passed:
                ET.SubElement(case, "failure", message=message, type="threshold").text = message
    ET.indent(suites)
    text: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return text + b"\n"
