"""The broken-manifest corpus (tests/validate/broken): each file breaks one rule and says which in its header,
``# expect: <code> <path>``, with ``# <- expected`` on the line the finding must point at. Each file gives exactly
that finding and no other error; the examples give none at all; every CEL rule of the CRDs has a file."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hivekeeper.api.crd import all_crds
from hivekeeper.validate import cel_rules, locate
from hivekeeper.validate.run import validate_paths
from hivekeeper.validate.schema import KINDS, crd_schema

REPO = Path(__file__).resolve().parents[3]
CORPUS = sorted((REPO / "tests" / "validate" / "broken").glob("*.yaml"))
EXPECT = re.compile(r"^# expect: (?P<code>[a-z-]+) (?P<path>\S+)$", re.MULTILINE)
WARNINGS = {"call-id-dynamic"}


def expectation(file: Path) -> tuple[str, str, int]:
    text = file.read_text()
    found = EXPECT.search(text)
    assert found, f"{file.name} needs a `# expect: <code> <path>` header"
    marked = [n for n, line in enumerate(text.splitlines(), start=1) if line.rstrip().endswith("# <- expected")]
    assert len(marked) == 1, f"{file.name} needs exactly one line ending in `# <- expected`"
    path = "" if found["path"] == "(none)" else found["path"]
    return found["code"], path, marked[0]


def test_the_corpus_has_a_file_per_rule() -> None:
    codes = {expectation(file)[0] for file in CORPUS}
    wanted = {
        "schema-type",
        "schema-enum",
        "schema-pattern",
        "schema-range",
        "schema-required",
        "unknown-field",
        "cel-rule",
        "model-rule",
        "role-config",
        "io-combination",
        "template-missing",
        "call-id-missing",
        "call-id-dynamic",
        "alias-unproduced",
        "template-syntax",
        "template-budget",
        "var-undefined",
        "sut-endpoint-undefined",
        "secret-ref-empty",
        "duplicate-key",
        "unknown-kind",
        "yaml-syntax",
        "postprocessor-after-journey",
        "bundle-file",
        "csv-dataset",
        "buffer-guard-queue",
        "buffer-guard-input",
        "result-rule-regex",
        "result-rule-group",
    }
    assert wanted <= codes, f"no corpus file for {sorted(wanted - codes)}"


@pytest.mark.parametrize("file", CORPUS, ids=[f.stem for f in CORPUS])
def test_each_broken_manifest_gives_exactly_its_finding_at_its_line(file: Path) -> None:
    code, path, line = expectation(file)
    summary = validate_paths([str(file)])
    matching = [f for f in summary.findings if f.code == code and f.path == path]
    assert len(matching) == 1, f"{file.name}: expected one {code} at {path!r}, got {summary.findings}"
    finding = matching[0]
    assert finding.line == line, f"{file.name}: {code} points at line {finding.line}, not {line}"
    assert finding.file == str(file)
    assert finding.severity == ("warning" if code in WARNINGS else "error")
    assert finding.message
    assert finding.fix
    others = [f for f in summary.findings if f is not finding]
    assert not others, f"{file.name}: other findings besides {code}: {others}"


def test_every_cel_rule_of_the_crds_is_broken_by_a_corpus_file() -> None:
    every_rule = {
        (kind, str(rule["rule"]))
        for kind, name in KINDS.items()
        for _, rule in cel_rules.rules(all_crds()[name]["spec"]["versions"][0]["schema"]["openAPIV3Schema"])
    }
    broken: set[tuple[str, str]] = set()
    for file in CORPUS:
        if expectation(file)[0] != "cel-rule":
            continue
        for document in locate.load_documents(file.read_text()):
            kind = document.data["kind"]
            schema = crd_schema(kind)
            failures, _ = cel_rules.check(schema, cel_rules.apply_defaults(schema, document.data))
            broken |= {(kind, failure.rule) for failure in failures}
    assert len(every_rule) == 12
    assert broken == every_rule, f"CEL rules no corpus file breaks: {sorted(every_rule - broken)}"


def test_every_example_validates_without_errors_or_warnings() -> None:
    examples = sorted((REPO / "examples").glob("*.yaml"))
    summary = validate_paths([str(e) for e in examples])
    assert summary.checked == len(examples) >= 4
    assert summary.findings == []
    assert summary.exit_code == 0


def test_with_strict_the_examples_are_only_told_to_name_their_secret() -> None:
    # Justified: the examples rely on the operator's default Secret on purpose (one less object to create);
    # --strict asks for it to be explicit, and that is its only complaint.
    summary = validate_paths([str(REPO / "examples")], strict=True)
    assert {(f.code, f.severity, f.path) for f in summary.findings} == {("secret-default", "warning", "spec")}
    assert len(summary.findings) == len(list((REPO / "examples").glob("*.yaml"))), "one per example"
    assert summary.exit_code == 1
