"""`hivekeeper report NAMESPACE/SWARM`: the run's stored record, read through the Swarm's status, written as the
HTML report (and, with --json, as JSON without the operator's baseline); bad input is exit 2, a cluster that cannot
be asked or a record that cannot be read exit 3, each one `error:` line.

As in the history command's tests, the command's tests replace ``read_swarm`` and ``read_configmap``;
``read_configmap`` itself is tested against a loopback HTTP server standing in for the API server (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hivekeeper.cli import history_cmd, main, report_cmd
from hivekeeper.report.cluster_run import BadRunDocument
from hivekeeper.report.run_choice import NoSuchRun


def record(run_id: str = "r2", **changes: Any) -> dict[str, Any]:
    return {
        "format": "hivekeeper.io/run-record",
        "version": 1,
        "namespace": "perf",
        "swarm": "staged-run",
        "runId": run_id,
        "phase": "Succeeded",
        "startedAt": "2026-01-01T10:00:00Z",
        "finishedAt": "2026-01-01T10:00:10Z",
        "updatedAt": "2026-01-01T10:00:18Z",
        "durationSeconds": 10.0,
        "run": {"id": run_id, "duration": "10s", "thresholds": [{"role": "caller", "metric": "p95", "max": 300}]},
        "verdict": {
            "result": "Passed",
            "reason": "all 1 thresholds held",
            "thresholds": [{"threshold": "caller p95 <= 300", "observed": 21.0, "passed": True, "message": "..."}],
        },
        "roles": [{"name": "caller", "role": "processor", "instances": 1, "processed": 100, "tps": 10.0}],
        "timeseries": {
            "intervalSeconds": 5.0,
            "roles": [{"role": "caller", "points": [{"t": 5, "seconds": 5, "processed": 50}]}],
        },
        "baseline": {"caller": {"processed": 7}},
    } | changes


SWARM = {
    "metadata": {"name": "staged-run", "namespace": "perf"},
    "status": {
        "run": {"id": "r2", "phase": "Succeeded", "series": "staged-run-r2"},
        "runs": [
            {"id": "r2", "result": "Passed", "reason": "...", "series": "staged-run-r2"},
            {"id": "r1", "result": "Failed", "reason": "...", "series": "staged-run-r1"},
            {"id": "r0", "result": "Failed", "reason": "..."},
        ],
    },
}
CONFIGMAPS = {"staged-run-r2": record("r2"), "staged-run-r1": record("r1")}


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, dict[str, str]]:
    """The Swarm and its ConfigMaps as the readers return them; the current directory is a temporary one."""
    configmaps = {name: {"run.json": json.dumps(doc)} for name, doc in CONFIGMAPS.items()}

    def read_swarm(namespace: str, name: str) -> dict[str, Any]:
        if (namespace, name) != ("perf", "staged-run"):
            raise history_cmd.SwarmNotFound(f"swarm {namespace}/{name}: the cluster has no such Swarm")
        return SWARM

    def read_configmap(namespace: str, name: str) -> dict[str, str]:
        if name not in configmaps:
            raise report_cmd.RecordNotFound(f"ConfigMap {namespace}/{name} does not exist")
        return configmaps[name]

    monkeypatch.setattr(history_cmd, "read_swarm", read_swarm)
    monkeypatch.setattr(report_cmd, "read_configmap", read_configmap)
    monkeypatch.chdir(tmp_path)
    return configmaps


def test_the_report_of_the_current_run_is_written_here_by_default(
    cluster: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "perf/staged-run"]) == 0
    assert capsys.readouterr().out == "report of run r2 of swarm perf/staged-run written to staged-run-r2.html\n"
    page = Path("staged-run-r2.html").read_text(encoding="utf-8")
    assert "<h1>hivekeeper run r2 of perf/staged-run</h1>" in page
    assert 'class="verdict Passed"' in page


def test_run_output_and_json_choose_the_run_and_the_files(
    cluster: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out, record_path = tmp_path / "out" / "r1.html", tmp_path / "out" / "r1.json"
    assert main(["report", "perf/staged-run", "--run", "r1", "-o", str(out), "--json", str(record_path)]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"report of run r1 of swarm perf/staged-run written to {out}",
        f"run record written to {record_path}",
    ]
    assert "<h1>hivekeeper run r1 of perf/staged-run</h1>" in out.read_text(encoding="utf-8")
    written = json.loads(record_path.read_text(encoding="utf-8"))
    assert "baseline" not in written
    assert (written["runId"], written["roles"][0]["processed"]) == ("r1", 100)


def test_write_report_is_callable_in_process_and_raises_the_errors_it_prints(
    cluster: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    assert report_cmd.write_report("perf", "staged-run", "r1", tmp_path / "x.html") == tmp_path / "x.html"
    assert report_cmd.write_report("perf", "staged-run") == Path("staged-run-r2.html")
    with pytest.raises(NoSuchRun, match="no run 'r9'; its runs: r2 \\(Succeeded\\), r1, r0;"):
        report_cmd.write_report("perf", "staged-run", "r9")


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["report", "staged-run"], "error: swarm 'staged-run': give it as NAMESPACE/SWARM"),
        (["report", "perf/nope"], "error: swarm perf/nope: the cluster has no such Swarm"),
        (["report", "perf/staged-run", "--run", "r9"], "error: swarm perf/staged-run has no run 'r9'; its runs:"),
        (["report", "perf/staged-run", "--run", "r0"], "error: swarm perf/staged-run: run 'r0' has no stored record"),
    ],
)
def test_bad_input_exits_2_in_one_line(
    cluster: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(said)
    assert err.count("\n") == 1
    assert not list(Path().glob("*.html"))


def test_a_record_the_status_names_but_the_cluster_lacks_is_bad_input(
    cluster: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    del cluster["staged-run-r1"]
    assert main(["report", "perf/staged-run", "--run", "r1"]) == 2
    assert capsys.readouterr().err == "error: ConfigMap perf/staged-run-r1 does not exist\n"


@pytest.mark.parametrize(
    ("data", "said"),
    [
        ({"other": "{}"}, "has no data key 'run.json' (keys: ['other']): not a run record"),
        ({"run.json": "{cut"}, "run.json is not JSON"),
        ({"run.json": json.dumps(record("r7"))}, "holds run r7 of swarm perf/staged-run, not run r2 of"),
    ],
)
def test_a_record_that_cannot_be_read_exits_3_naming_the_configmap(
    cluster: dict[str, dict[str, str]], capsys: pytest.CaptureFixture[str], data: dict[str, str], said: str
) -> None:
    cluster["staged-run-r2"] = data
    assert main(["report", "perf/staged-run"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: ConfigMap perf/staged-run-r2 (run r2 of swarm perf/staged-run)")
    assert said in err
    with pytest.raises(BadRunDocument):
        report_cmd.load_run("perf", "staged-run")


def test_the_command_exits_3_in_one_line_when_the_cluster_cannot_be_asked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def unreachable(namespace: str, name: str) -> dict[str, Any]:
        raise ConnectionRefusedError("[Errno 111] Connection refused\nmore detail")

    monkeypatch.setattr(history_cmd, "read_swarm", unreachable)
    assert main(["report", "perf/s"]) == 3
    err = capsys.readouterr().err
    assert err == (
        "error: cannot read swarm perf/s from the Kubernetes API: [Errno 111] Connection refused (check KUBECONFIG)\n"
    )


def test_without_a_kubeconfig_the_command_says_so_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert main(["report", "perf/s"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read swarm perf/s from the Kubernetes API")
    assert err.count("\n") == 1


def test_the_configmap_is_read_from_the_api_path_of_its_namespace_and_a_404_is_a_missing_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``read_configmap`` against a loopback HTTP server standing in for the API server (no cluster)."""
    import http.server
    import threading

    stored = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "staged-run-r2", "namespace": "perf"},
        "data": {"run.json": json.dumps(record())},
    }
    paths: list[str] = []

    class ApiServer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            found = self.path == "/api/v1/namespaces/perf/configmaps/staged-run-r2"
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
        assert json.loads(report_cmd.read_configmap("perf", "staged-run-r2")["run.json"])["runId"] == "r2"
        with pytest.raises(report_cmd.RecordNotFound, match="ConfigMap perf/gone, the run's record named in"):
            report_cmd.read_configmap("perf", "gone")
    finally:
        server.shutdown()
        server.server_close()
    assert paths == ["/api/v1/namespaces/perf/configmaps/staged-run-r2", "/api/v1/namespaces/perf/configmaps/gone"]
