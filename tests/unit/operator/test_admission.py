"""The admission webhook's answers: what the API server is told about a Swarm or WorkerRole it is about to store.

Each request is the ``request`` of an AdmissionReview as the API server sends it (operation, object, oldObject);
the answer is what the AdmissionReview response carries: allowed, the refusal's message and code, the warnings.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import kopf
import pytest
import yaml

from hivekeeper.operator import admission
from hivekeeper.operator.admission import Decision, decide
from hivekeeper.validate.report import text as printed_text
from hivekeeper.validate.run import validate_text

REPO = Path(__file__).resolve().parents[3]
QUICKSTART = (REPO / "examples" / "quickstart.yaml").read_text()
LOCATION = re.compile(r"^\S+?:\d+: ")


def _swarm(text: str = QUICKSTART) -> dict[str, Any]:
    swarm: dict[str, Any] = yaml.safe_load(text)
    # What the API server adds before it asks: the namespace, identity and bookkeeping.
    swarm["metadata"].update(namespace="perf", uid="0c1d", resourceVersion="7", generation=1)
    swarm["metadata"]["creationTimestamp"] = "2026-12-06T08:00:00Z"
    swarm["metadata"]["managedFields"] = [{"manager": "kubectl", "operation": "Update", "fieldsType": "FieldsV1"}]
    return swarm


def _with_unknown_key(text: str = QUICKSTART) -> str:
    return text.replace("threadCount: 16", "threadCount: 16\n        thredCount: 4")


def _printed(text: str) -> list[str]:
    """What ``hivekeeper validate`` prints for ``text``, finding by finding (with its ``fix:`` line), without the
    ``file:line:`` in front; notes and the summary line left out."""
    findings: list[str] = []
    for line in printed_text(validate_text(text, "swarm.yaml")).splitlines():
        if line.startswith("swarm.yaml:") and re.match(r"^\S+?:\d+: (error|warning) ", line):
            findings.append(line)
        elif line.startswith("  fix: "):
            findings[-1] += "\n" + line
    return findings


WORKERROLE = """\
apiVersion: hivekeeper.io/v1alpha1
kind: WorkerRole
metadata:
  name: lone-caller
  namespace: perf
spec:
  role: processor
  swarmRef: lone
  work: {in: call}
  config:
    baseUrl: http://sut.perf.svc:8080
    timeoutMilis: 500
"""


def test_a_swarm_with_an_unknown_role_config_key_is_refused_with_the_lines_validate_prints() -> None:
    text = _with_unknown_key()
    decision = decide("CREATE", _swarm(text))
    assert not decision.allowed
    [printed] = _printed(text)
    assert decision.message == LOCATION.sub("", printed)
    assert decision.message.startswith("error role-config: processor 'caller': thredCount: unknown key")
    assert "(spec.roles[2].config.thredCount)\n  fix: remove thredCount" in decision.message


def test_a_workerrole_with_a_bad_config_is_refused_naming_its_field() -> None:
    decision = decide("CREATE", yaml.safe_load(WORKERROLE))
    assert not decision.allowed
    assert "timeoutMilis: unknown key for role processor" in decision.message
    assert "(spec.config.timeoutMilis)" in decision.message


def test_every_error_is_in_the_message_one_after_the_other() -> None:
    """In the order the checks find them: the API server's object has no lines to sort them by as validate does."""
    text = _with_unknown_key().replace("timeoutMs: 5000", "timeoutMs: -1")
    decision = decide("CREATE", _swarm(text))
    printed = sorted(LOCATION.sub("", lines) for lines in _printed(text))
    assert len(printed) == 2
    assert sorted(re.split(r"\n(?=error )", decision.message)) == printed


def test_a_valid_swarm_is_allowed_without_warnings() -> None:
    assert decide("CREATE", _swarm()) == Decision(allowed=True)


def test_warnings_are_passed_on_one_line_each_and_do_not_refuse() -> None:
    text = QUICKSTART.replace("{{ pickWeighted('balance', 80, 'topup', 20) }}", "{{ payload.kind }}")
    decision = decide("CREATE", _swarm(text))
    assert decision.allowed
    [warning] = decision.warnings
    [printed] = _printed(text)
    assert warning == " ".join(line.strip() for line in LOCATION.sub("", printed).splitlines())
    assert warning.startswith("warning call-id-dynamic: the x-ph-call-id of generator 'feeder'")
    assert " fix: use literal values" in warning
    assert "\n" not in warning, "the API server drops a warning with a line break"


def test_an_update_that_changes_the_spec_is_checked() -> None:
    old = _swarm()
    new = _swarm(_with_unknown_key())
    assert not decide("UPDATE", new, old).allowed


def test_an_update_that_leaves_the_spec_alone_passes_even_when_the_object_is_bad() -> None:
    """kopf's annotations and finalizers, a label, a deletion's finalizer removal: an object stored before the
    webhook existed can still be finished with."""
    old = _swarm(_with_unknown_key())
    new = copy.deepcopy(old)
    new["metadata"]["finalizers"] = []
    new["metadata"]["deletionTimestamp"] = "2026-12-06T09:00:00Z"
    assert decide("UPDATE", new, old) == Decision(allowed=True)


@pytest.mark.parametrize("operation", ["DELETE", "CONNECT"])
def test_other_operations_pass_unchecked(operation: str) -> None:
    assert decide(operation, _swarm(_with_unknown_key())) == Decision(allowed=True)


def test_the_kopf_handler_refuses_with_an_admission_error_carrying_the_message_and_422() -> None:
    warnings: list[str] = []
    body = kopf.Body(_swarm(_with_unknown_key()))
    with pytest.raises(kopf.AdmissionError) as refused:
        admission.validate(body=body, old=None, operation="CREATE", warnings=warnings)
    assert str(refused.value) == decide("CREATE", _swarm(_with_unknown_key())).message
    assert refused.value.code == 422
    assert warnings == []


def test_the_kopf_handler_hands_warnings_to_kopf_and_allows() -> None:
    warnings: list[str] = []
    text = QUICKSTART.replace("{{ pickWeighted('balance', 80, 'topup', 20) }}", "{{ payload.kind }}")
    old = kopf.Body(_swarm())
    admission.validate(body=kopf.Body(_swarm(text)), old=old, operation="UPDATE", warnings=warnings)
    assert warnings == decide("CREATE", _swarm(text)).warnings
    assert len(warnings) == 1


def test_the_server_needs_the_certificate_and_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as stopped:
        admission.server(9443, tmp_path)
    message = str(stopped.value)
    assert f"{tmp_path / 'tls.crt'} does not exist" in message
    assert "--webhook-port 0" in message


def test_the_server_listens_on_every_address_with_the_mounted_certificate(tmp_path: Path) -> None:
    (tmp_path / "tls.crt").write_text("cert")
    (tmp_path / "tls.key").write_text("key")
    server = admission.server(9443, tmp_path)
    assert (server.addr, server.port) == ("0.0.0.0", 9443)
    assert (server.certfile, server.pkeyfile) == (str(tmp_path / "tls.crt"), str(tmp_path / "tls.key"))
