"""`hivekeeper history NAMESPACE/SWARM`: the table and the JSON of a Swarm's runs, from a Swarm body as the
Kubernetes API returns it; bad input and an unreachable cluster are one `error:` line with exit 2 / 3.

The command's tests replace ``read_swarm``; ``read_swarm`` itself is tested against a loopback HTTP server standing
in for the API server (no cluster)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hivekeeper.cli import history_cmd, main
from hivekeeper.errors import InvalidInput

PASSED = {
    "id": "2",
    "result": "Passed",
    "startedAt": "2026-01-01T01:00:00Z",
    "finishedAt": "2026-01-01T01:10:05Z",
    "reason": "all 4 thresholds held",
    "items": 120000,
    "thresholds": [{"threshold": "caller p95 <= 300", "observed": 21.5, "passed": True}],
}
FAILED = {
    "id": "1",
    "result": "Failed",
    "startedAt": "2026-01-01T00:00:00Z",
    "finishedAt": "2026-01-01T00:00:20Z",
    "endedBecause": "the run's 20 s are over",
    "reason": "1 of 4 thresholds failed: caller p95 <= 300: observed 900 (failed)",
    "failed": ["caller p95 <= 300"],
    "items": 4900,
}


def body(run: dict[str, Any] | None = None, runs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"observedGeneration": 3, "totals": {"tps": 0}}
    if run is not None:
        status["run"] = run
    if runs is not None:
        status["runs"] = runs
    return {"apiVersion": "hivekeeper.io/v1alpha1", "kind": "Swarm", "metadata": {"name": "s"}, "status": status}


def test_the_table_lists_the_current_run_and_the_finished_ones_newest_first() -> None:
    current = {"id": "3", "phase": "Running", "startedAt": "2026-01-01T02:00:00Z", "baseline": {}, "verdict": None}
    text = history_cmd.table("perf/staged-run", body(current, [PASSED, FAILED]))
    assert text.splitlines() == [
        "swarm perf/staged-run: run 3 is Running",
        "RUN  RESULT  STARTED               DURATION  REASON",
        "2    Passed  2026-01-01T01:00:00Z  10m5s     all 4 thresholds held",
        "1    Failed  2026-01-01T00:00:00Z  20s       "
        "1 of 4 thresholds failed: caller p95 <= 300: observed 900 (failed)",
    ]


def test_the_table_says_when_there_is_no_run_and_no_history() -> None:
    assert history_cmd.table("perf/s", body()) == "swarm perf/s: no spec.run\nno finished runs yet"
    assert history_cmd.duration("2026-01-01T00:00:00Z", "2026-01-01T02:03:04Z") == "2h3m4s"
    assert history_cmd.duration("2026-01-01T00:00:00Z", None) == "-"


def test_the_json_holds_the_current_run_and_the_records_as_stored() -> None:
    current = {"id": "3", "phase": "Pending", "baseline": {"feeder": {"processed": 5}}}
    out = history_cmd.as_json("perf/s", body(current, [PASSED]))
    assert out == {"swarm": "perf/s", "run": {"id": "3", "phase": "Pending"}, "runs": [PASSED | {"failed": []}]}
    json.dumps(out)


@pytest.mark.parametrize("text", ["staged-run", "perf/", "/s", "Perf/s", "a/b/c"])
def test_a_swarm_not_given_as_namespace_slash_name_is_bad_input(text: str) -> None:
    with pytest.raises(InvalidInput, match="NAMESPACE/SWARM"):
        history_cmd.swarm_ref(text)


def test_the_command_exits_2_on_bad_input_and_on_an_unknown_swarm(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "staged-run"]) == 2
    assert capsys.readouterr().err.startswith("error: swarm 'staged-run': give it as NAMESPACE/SWARM")

    def missing(namespace: str, name: str) -> dict[str, Any]:
        raise history_cmd.SwarmNotFound(f"swarm {namespace}/{name}: the cluster has no such Swarm")

    monkeypatch.setattr(history_cmd, "read_swarm", missing)
    assert main(["history", "perf/nope"]) == 2
    err = capsys.readouterr().err
    assert err == "error: swarm perf/nope: the cluster has no such Swarm\n"


def test_the_command_exits_3_in_one_line_when_the_cluster_cannot_be_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(namespace: str, name: str) -> dict[str, Any]:
        raise ConnectionRefusedError("[Errno 111] Connection refused\nmore detail")

    monkeypatch.setattr(history_cmd, "read_swarm", unreachable)
    assert main(["history", "perf/s"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("error: cannot read swarm perf/s from the Kubernetes API: [Errno 111] Connection refused")


def test_the_command_prints_the_table_or_the_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(
        history_cmd, "read_swarm", lambda namespace, name: body({"id": "2", "phase": "Succeeded"}, [PASSED])
    )
    assert main(["history", "perf/s"]) == 0
    assert capsys.readouterr().out.startswith("swarm perf/s: run 2 is Succeeded\nRUN")
    assert main(["history", "perf/s", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["runs"][0]["id"] == "2"


def test_without_a_kubeconfig_the_command_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["history", "perf/s"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read swarm perf/s from the Kubernetes API")
    assert err.count("\n") == 1


def test_the_swarm_is_read_from_the_api_path_of_its_namespace_and_a_404_is_an_unknown_swarm(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``read_swarm`` against a loopback HTTP server standing in for the API server (no cluster)."""
    import http.server
    import threading

    stored = body({"id": "2", "phase": "Succeeded"}, [PASSED])
    paths: list[str] = []

    class ApiServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            found = self.path == "/apis/hivekeeper.io/v1alpha1/namespaces/perf/swarms/s"
            data = json.dumps(stored if found else {"kind": "Status", "code": 404, "reason": "NotFound"}).encode()
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ApiServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.server_port}"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    try:
        assert history_cmd.read_swarm("perf", "s")["status"]["runs"] == [PASSED]
        with pytest.raises(history_cmd.SwarmNotFound, match="kubectl get swarms -n perf"):
            history_cmd.read_swarm("perf", "nope")
    finally:
        server.shutdown()
        server.server_close()
    assert paths == [
        "/apis/hivekeeper.io/v1alpha1/namespaces/perf/swarms/s",
        "/apis/hivekeeper.io/v1alpha1/namespaces/perf/swarms/nope",
    ]
