"""``hivekeeper operator`` options that tests and charts rely on."""

from __future__ import annotations

import pytest

from hivekeeper.cli import parser
from hivekeeper.operator.metrics import AUTO


def test_metrics_port_takes_a_port_zero_or_auto() -> None:
    assert parser().parse_args(["operator"]).metrics_port == 9090
    assert parser().parse_args(["operator", "--metrics-port", "0"]).metrics_port == 0
    assert parser().parse_args(["operator", "--metrics-port", "auto"]).metrics_port == AUTO


@pytest.mark.parametrize(("value", "said"), [("soon", "is not a port number, 0 (off) or 'auto'"), ("70000", "outside")])
def test_a_bad_metrics_port_is_refused_with_the_value_and_the_choices(
    value: str, said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["operator", "--metrics-port", value])
    assert said in capsys.readouterr().err


def test_auto_binds_a_port_the_kernel_picks_and_reports_it() -> None:
    import urllib.request

    from hivekeeper.operator import metrics

    port = metrics.serve(AUTO, address="127.0.0.1")
    assert port
    assert metrics.serve(AUTO, address="127.0.0.1") == port, "a retried startup handler reuses the server"
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        assert b"hivekeeper_operator_reconciles" in response.read()
    assert metrics.serve(0) is None


def test_the_admission_webhook_is_off_unless_a_port_is_given() -> None:
    assert parser().parse_args(["operator"]).webhook_port == 0
    args = parser().parse_args(["operator", "--webhook-port", "9443", "--webhook-cert-dir", "/certs"])
    assert (args.webhook_port, args.webhook_cert_dir) == (9443, "/certs")
    assert parser().parse_args(["operator"]).webhook_cert_dir == "/etc/hivekeeper/webhook", "where the chart mounts it"


def test_a_refused_manifest_is_logged_at_info_as_a_refusal_not_an_operator_error() -> None:
    import logging

    from hivekeeper.cli.operator_cmd import _quiet_routine, _refusals_as_info

    record = logging.LogRecord(
        "kopf.objects", logging.ERROR, __file__, 1, "%s failed permanently: %s", ("Webhook 'role-configs'", "bad"), None
    )
    assert _refusals_as_info(record) is True
    assert (record.levelno, record.levelname) == (logging.INFO, "INFO")
    assert record.getMessage() == "admission refused a manifest: bad"

    accepted = logging.LogRecord(
        "kopf.objects", logging.INFO, __file__, 1, "Webhook 'role-configs' succeeded.", (), None
    )
    assert _quiet_routine(accepted) is False, "an accepted manifest is routine: shown with --verbose only"
    other = logging.LogRecord("kopf.objects", logging.ERROR, __file__, 1, "Handler 'x' failed permanently: y", (), None)
    assert _refusals_as_info(other) is True
    assert other.levelno == logging.ERROR, "the operator's own failures stay errors"
