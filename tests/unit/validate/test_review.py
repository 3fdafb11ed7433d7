"""``hivekeeper.validate.review``, the admission entry point: for one Swarm or WorkerRole object, as the API
server sends it (parsed, with the fields the server adds), the errors and warnings are exactly the lines
``hivekeeper validate`` prints for the same manifest file, without the ``file:line:`` in front."""

from __future__ import annotations

import copy
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from hivekeeper import cli
from hivekeeper.validate import Review, locate, review

REPO = Path(__file__).resolve().parents[3]
BROKEN = sorted((REPO / "tests" / "validate" / "broken").glob("*.yaml"))
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
FILE_ONLY = {"yaml-syntax", "duplicate-key", "csv-dataset"}
"""Codes about the YAML text, which an object received parsed cannot have, and about the files next to the
manifest (a CSV dataset), which the API server never sees."""

UNKNOWN_CONFIG_KEY = """\
apiVersion: hivekeeper.io/v1alpha1
kind: Swarm
metadata: {name: typo}
spec:
  roles:
    - name: feeder
      role: generator
      work: {out: calls}
      config:
        inputs: {type: SCHEDULER, scheduler: {ratePerSec: 5}}
        mesage: {body: hello}
    - name: stats
      role: postprocessor
      work: {in: calls}
"""

BAD_TEMPLATE = """\
apiVersion: hivekeeper.io/v1alpha1
kind: Swarm
metadata: {name: broken-template}
spec:
  sut: {endpoints: {default: {baseUrl: "http://sut:8080"}}}
  templates:
    - serviceId: cards
      callId: balance
      method: GET
      pathTemplate: "/cards/{{ payload.cardId }/balance"
  roles:
    - name: feeder
      role: generator
      work: {out: build}
      config:
        inputs: {type: SCHEDULER, scheduler: {ratePerSec: 5}}
        message: {body: '{"cardId": "{{ vars.card }}"}', headers: {x-ph-call-id: balance}}
    - name: builder
      role: request-builder
      work: {in: build, out: call}
      config: {serviceId: cards}
    - name: caller
      role: processor
      work: {in: call}
      config: {baseUrl: "{{ sut.endpoints.default.baseUrl }}"}
"""

BAD_RATE = """\
apiVersion: hivekeeper.io/v1alpha1
kind: Swarm
metadata: {name: bad-rate, namespace: perf}
spec:
  roles:
    - name: feeder
      role: generator
      work: {out: calls}
      config:
        inputs: {type: SCHEDULER, scheduler: {ratePerSec: -5}}
        message: {body: hello}
    - name: stats
      role: postprocessor
      work: {in: calls}
"""

BAD_WORKERROLE = """\
apiVersion: hivekeeper.io/v1alpha1
kind: WorkerRole
metadata: {name: extra-callers, namespace: perf}
spec:
  swarmRef: quickstart
  role: processor
  work: {in: call}
  config:
    baseUrl: "ftp://cards-api:8080"
    threadCount: 0
"""

WARNING_ONLY = """\
apiVersion: hivekeeper.io/v1alpha1
kind: Swarm
metadata: {name: dynamic}
spec:
  templates:
    - {serviceId: default, callId: balance, method: GET, pathTemplate: /balance}
  roles:
    - name: feeder
      role: generator
      work: {out: build}
      config:
        inputs: {type: SCHEDULER, scheduler: {ratePerSec: 5}}
        message: {body: hello, headers: {x-ph-call-id: "{{ payload.kind }}"}}
    - name: builder
      role: request-builder
      work: {in: build}
      config: {outputs: {type: NONE}}
"""

MANIFESTS = {
    "unknown role config key": UNKNOWN_CONFIG_KEY,
    "bad template": BAD_TEMPLATE,
    "bad rate": BAD_RATE,
    "bad WorkerRole": BAD_WORKERROLE,
    "a warning only": WARNING_ONLY,
}


def printed(path: Path, capsys: pytest.CaptureFixture[str]) -> Review:
    """What ``hivekeeper validate PATH`` prints for each finding, without ``file:line: `` in front."""
    cli.main(["validate", str(path)])
    out = capsys.readouterr().out
    located = re.compile(rf"^{re.escape(str(path))}(?::\d+)?: (?=(error|warning) )")
    errors: list[str] = []
    warnings: list[str] = []
    last: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("  fix: ") and last is not None:
            last[-1] += "\n" + line
            continue
        found = located.match(line)
        last = None
        if found:
            last = errors if found.group(1) == "error" else warnings
            last.append(line[found.end() :])
    return Review(errors, warnings)


def as_admitted(text: str) -> dict[str, Any]:
    """The object as the API server hands it to a webhook: JSON, with the fields the server sets."""
    (document,) = locate.load_documents(text)
    obj: dict[str, Any] = json.loads(json.dumps(document.data))
    metadata = obj["metadata"]
    metadata.setdefault("namespace", "default")
    metadata.update(
        uid="0d9f0c1e-5a55-4d3e-9a52-6d0c1f3b2a10",
        generation=1,
        creationTimestamp="2026-12-06T08:00:00Z",
        managedFields=[{"manager": "kubectl", "operation": "Update", "time": "2026-12-06T08:00:00Z"}],
    )
    obj["status"] = {"phase": "Pending"}  # the operator's: never checked
    return obj


@pytest.mark.parametrize("name", list(MANIFESTS))
def test_review_gives_the_lines_validate_prints(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "manifest.yaml"
    path.write_text(MANIFESTS[name])
    expected = printed(path, capsys)
    assert expected.errors or expected.warnings, "each manifest is bad in some way"

    got = review(as_admitted(MANIFESTS[name]))

    assert sorted(got.errors) == sorted(expected.errors)
    assert sorted(got.warnings) == sorted(expected.warnings)
    assert got.allowed == (not expected.errors)


def test_the_messages_name_the_field_path_the_value_and_the_fix() -> None:
    got = review(as_admitted(UNKNOWN_CONFIG_KEY))

    (error,) = got.errors
    first, fix = error.split("\n")
    assert first.startswith("error role-config: generator 'feeder': mesage: unknown key")
    assert first.endswith("(spec.roles[0].config.mesage)")
    assert fix == "  fix: remove mesage or fix its spelling (docs/roles.md lists every key of each role)"


def _one_document(path: Path) -> bool:
    try:
        return len(locate.load_documents(path.read_text())) == 1
    except Exception:  # a YAML syntax error: no object to admit
        return False


ONE_DOCUMENT = [path for path in BROKEN if _one_document(path)]


@pytest.mark.parametrize("path", ONE_DOCUMENT, ids=lambda p: p.stem)
def test_review_agrees_with_validate_on_every_corpus_file_with_one_document(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    expected = printed(path, capsys)
    # What is wrong with the YAML text itself (a duplicate key), or with a file next to it, cannot reach an object
    # the API server parsed.
    expected_errors = [line for line in expected.errors if not any(code in line for code in FILE_ONLY)]

    got = review(json.loads(json.dumps(locate.load_documents(path.read_text())[0].data)))

    assert sorted(got.errors) == sorted(expected_errors)
    assert sorted(got.warnings) == sorted(expected.warnings)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_the_examples_are_admitted_without_a_word(path: Path) -> None:
    assert review(as_admitted(path.read_text())) == Review([], [])


def test_another_kind_is_not_reviewed() -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"a": "b"}}

    assert review(config_map) == Review([], [])


def test_an_unserved_hivekeeper_kind_is_refused() -> None:
    got = review({"apiVersion": "hivekeeper.io/v1alpha1", "kind": "Hive", "metadata": {"name": "x"}, "spec": {}})

    assert got.errors == [
        "error unknown-kind: the API server serves no hivekeeper.io/v1alpha1 Hive (kind)\n"
        "  fix: use apiVersion: hivekeeper.io/v1alpha1 with kind Swarm or WorkerRole"
    ]


def test_review_leaves_the_object_it_is_given_unchanged() -> None:
    obj = as_admitted(BAD_TEMPLATE)
    before = copy.deepcopy(obj)

    review(obj)

    assert obj == before


def test_a_typical_swarm_reviews_in_a_few_milliseconds() -> None:
    quickstart = as_admitted((REPO / "examples" / "quickstart.yaml").read_text())
    review(quickstart)  # the first review compiles the schemas and CEL rules (once per process)
    edited = copy.deepcopy(quickstart)
    edited["spec"]["roles"][2]["replicas"] = 3  # an edit that leaves the role configs as they were

    started = time.perf_counter()
    for _ in range(10):
        assert review(edited).allowed
    each = (time.perf_counter() - started) / 10

    assert each < 0.02, f"{each * 1000:.1f} ms per review"


def test_reviews_on_several_threads_at_once_give_each_its_own_answer() -> None:
    """kopf runs synchronous admission handlers on a thread pool: reviews share one engine and caches."""
    from concurrent.futures import ThreadPoolExecutor

    objects = [as_admitted(MANIFESTS[name]) for name in MANIFESTS] * 4
    alone = [review(obj) for obj in objects]

    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(review, objects))

    assert together == alone
