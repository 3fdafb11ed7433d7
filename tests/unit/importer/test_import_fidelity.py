"""Import fidelity: what a bundle says reaches the manifest or is reported (nothing dropped without a finding),
YAML keys such as ``on:`` survive, and the import's errors are validate's errors on the manifest (for every
bundle of tests/bundles that is checked with the run, in tests/integration/test_bundles_validate_run.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hivekeeper.importer.agreement import INVOCATION
from hivekeeper.importer.bees import REDIS_CONNECTION_KEYS
from hivekeeper.importer.bundle import load_yaml
from hivekeeper.importer.translate import ImportOptions, ImportResult, import_bundle
from hivekeeper.validate.run import validate_text

BUNDLES = Path(__file__).resolve().parents[2] / "bundles"
OPTIONS = {"customers-variables": {"sut": "local", "profile": "smoke"}}
GENERATOR = {"role": "gen", "image": "generator:latest", "work": {"out": {"out": "q"}}, "config": {}}
QUIET = {"enabled", "templateRoot", "historyPolicy", "connectionReuse", "txOutcomeSinkMode"}
QUIET |= {"dropTxOutcomeWithoutCallId"}
"""Bundle keys documented as dropped quietly (docs/import.md, Config keys): what hivekeeper does anyway, or
carried elsewhere (the templates of templateRoot are in spec.templates)."""
RENAMED = {("inputs", "rabbit"): ("inputs", "rabbitmq")}
SCENARIO = """protocolVersion: "2.0.0"
id: demo
template:
  bees:
    - {role: gen, image: 'generator:latest', work: {out: {out: q}}}
"""


def _bundle(root: Path, bees: list[Any], files: dict[str, Any] | None = None) -> Path:
    scenario = {"protocolVersion": "2.0.0", "id": "demo", "template": {"bees": bees}}
    for rel, data in {"scenario.yaml": scenario, **(files or {})}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return root


def _import(root: Path, **options: Any) -> ImportResult:
    return import_bundle(ImportOptions(bundle=root, **options))


def _errors(result: ImportResult) -> list[tuple[str, str]]:
    return [(f.code, f.path) for f in result.findings if f.severity == "error" and f.code not in INVOCATION]


def test_on_off_yes_no_keys_and_values_survive_the_import_and_a_load_of_the_manifest(tmp_path: Path) -> None:
    scenario = SCENARIO + (
        "    - {role: shaper, image: 'acme/shaper:1', work: {in: {in: q}},\n"
        "       config: {retry: {on: [5xx], off: no, when: yes}}}\n"
    )
    (tmp_path / "scenario.yaml").write_text(scenario)
    assert load_yaml(scenario)["template"]["bees"][1]["config"]["retry"] == {"on": ["5xx"], "off": "no", "when": "yes"}
    result = _import(tmp_path)
    manifest = yaml.safe_load(result.text)
    assert manifest["spec"]["roles"][1]["config"] == {"retry": {"on": ["5xx"], "off": "no", "when": "yes"}}
    assert "'on':" in result.text, "quoted, so that YAML 1.1 readers (kubectl) keep it a string too"


def test_an_http_sequence_retry_on_list_is_kept_as_on(tmp_path: Path) -> None:
    scenario = SCENARIO + (
        "    - {role: j, image: 'http-sequence:latest', work: {in: {in: q}},\n"
        "       config: {baseUrl: 'http://sut', steps: [{callId: c, retry: {maxAttempts: 2, on: [5xx]}}]}}\n"
    )
    (tmp_path / "scenario.yaml").write_text(scenario)
    (tmp_path / "templates" / "http").mkdir(parents=True)
    (tmp_path / "templates" / "http" / "c.yaml").write_text("callId: c\nprotocol: HTTP\n")
    result = _import(tmp_path)
    assert yaml.safe_load(result.text)["spec"]["roles"][1]["config"]["steps"][0]["retry"]["on"] == ["5xx"]
    assert _errors(result) == []


def test_a_custom_image_keeps_its_template_root_and_schema_paths_and_each_is_an_error_validate_finds_too(
    tmp_path: Path,
) -> None:
    config = {"templateRoot": "/app/scenario/templates/http", "schema": "/app/scenario/schemas/card.json", "n": 1}
    custom = {"role": "checker", "image": "acme/checker:1", "work": {"in": {"in": "q"}}, "config": config}
    result = _import(_bundle(tmp_path, [GENERATOR, custom], {"schemas/card.json": "{}"}))
    assert result.document is not None
    assert result.document["spec"]["roles"][1]["config"] == config, "a custom image's config keeps every key"
    assert _errors(result) == [
        ("bundle-file", "template.bees[1].config.templateRoot"),
        ("bundle-file", "template.bees[1].config.schema"),
    ]
    validated = [(f.code, f.path) for f in validate_text(result.text).findings if f.severity == "error"]
    assert validated == [
        ("bundle-file", "spec.roles[1].config.templateRoot"),
        ("bundle-file", "spec.roles[1].config.schema"),
    ]


@pytest.mark.parametrize(
    ("root", "finding"),
    [
        ("/app/scenario/templates/http", None),
        ("/app/scenario/templates", None),
        ("/app/scenario/calls", "not under /app/scenario/templates"),
        ("/opt/templates", "outside the bundle"),
    ],
)
def test_a_built_in_roles_template_root_is_carried_as_spec_templates_or_reported(
    tmp_path: Path, root: str, finding: str | None
) -> None:
    builder = {"role": "b", "image": "request-builder:latest", "work": {"in": {"in": "q"}}}
    builder["config"] = {"templateRoot": root, "outputs": {"type": "NONE"}}
    generator = {**GENERATOR, "config": {"message": {"headers": {"x-ph-call-id": "c"}}}}
    result = _import(_bundle(tmp_path, [generator, builder], {"templates/http/c.yaml": {"callId": "c"}}))
    found = [f.message for f in result.findings if f.code == "template-root-outside-bundle"]
    assert [finding in m for m in found] == ([True] if finding else [])
    assert _errors(result) == []


def test_a_blank_list_name_next_to_sources_is_unset_for_import_validate_and_the_worker(tmp_path: Path) -> None:
    redis = {"listName": "", "sources": [{"listName": "a"}, {"listName": "b"}], "ratePerSec": 5}
    generator = {**GENERATOR, "config": {"inputs": {"type": "REDIS_DATASET", "redis": redis}}}
    processor = {"role": "p", "image": "processor:latest", "work": {"in": {"in": "q"}}}
    processor["config"] = {"baseUrl": "http://sut", "outputs": {"type": "NONE"}}
    result = _import(_bundle(tmp_path, [generator, processor]))
    assert result.findings == []
    assert validate_text(result.text).findings == []


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict) and value:
        return [leaf for k, v in value.items() for leaf in _leaves(v, (*path, k))]
    if isinstance(value, list) and value:
        return [leaf for i, v in enumerate(value) for leaf in _leaves(v, (*path, i))]
    return [path]


def _shown(path: tuple[Any, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _has(config: Any, path: tuple[Any, ...]) -> bool:
    for part in path:
        in_list = isinstance(config, list) and isinstance(part, int) and part < len(config)
        if not (in_list or (isinstance(config, dict) and part in config)):
            return False
        config = config[part]
    return True


@pytest.mark.parametrize("bundle", sorted(p.name for p in BUNDLES.iterdir() if (p / "scenario.yaml").is_file()))
def test_every_config_key_of_every_bundle_is_mapped_or_reported(bundle: str) -> None:
    result = import_bundle(ImportOptions(bundle=BUNDLES / bundle, **OPTIONS.get(bundle, {})))
    assert result.document is not None
    scenario = load_yaml((BUNDLES / bundle / "scenario.yaml").read_text())
    roles = {r["name"]: r for r in result.document["spec"]["roles"]}
    reported = [f.path for f in result.findings if f.file.endswith("/scenario.yaml")]
    for index, bee in enumerate(scenario["template"]["bees"]):
        raw = bee.get("config") or {}
        lifted = {**{k: v for k, v in raw.items() if k != "worker"}, **(raw.get("worker") or {})}
        role = next((r for r in roles.values() if r["name"] in (bee.get("id"), bee.get("role"))), None)
        config = role.get("config", {}) if role else {}
        for leaf in [leaf for leaf in _leaves(lifted) if leaf]:
            source = ("worker", *leaf) if leaf[0] in (raw.get("worker") or {}) else leaf
            where = f"template.bees[{index}].config.{_shown(source)}"
            mapped = _has(config, RENAMED.get(leaf[:2], leaf[:2]) + leaf[2:])
            said = any(where == p or where.startswith(f"{p}.") or where.startswith(f"{p}[") for p in reported)
            quiet = leaf[0] in QUIET or leaf[-1] in REDIS_CONNECTION_KEYS
            folded = role is None and any(f"template.bees[{index}]" in p for p in reported)
            assert mapped or said or quiet or folded, f"{bundle}: {where} was dropped without a finding"


def _journey_bundle(
    root: Path, body: str = "{}", call: dict[str, Any] | None = None, inputs: dict[str, Any] | None = None
) -> Path:
    """generator -> request-builder -> processor, the generator's body ``body`` (and ``inputs``), one call ``c``."""
    config: dict[str, Any] = {"message": {"body": body, "headers": {"x-ph-call-id": "c"}}}
    generator = {**GENERATOR, "config": {**config, **({"inputs": inputs} if inputs else {})}}
    builder = {"role": "b", "image": "request-builder:latest", "work": {"in": {"in": "q"}, "out": {"out": "r"}}}
    processor = {"role": "p", "image": "processor:latest", "work": {"in": {"in": "r"}}}
    processor["config"] = {"baseUrl": "{{ sut.endpoints['default'].baseUrl }}", "outputs": {"type": "NONE"}}
    template = {"callId": "c", "protocol": "HTTP", "pathTemplate": "/x", **(call or {})}
    files: dict[str, Any] = {"templates/http/c.yaml": template}
    files["sut/demo/sut.yaml"] = {"endpoints": {"default": {"kind": "http", "baseUrl": "http://sut:8080"}}}
    return _bundle(root, [generator, builder, processor], files)


IMPORT_ERRORS: dict[str, tuple[dict[str, Any], str]] = {
    "spel-unsupported": ({"body": '{{ eval("T(java.time.Instant).now()") }}'}, ""),
    "pebble-unsupported (filter)": ({"body": "{{ 3 | numberformat('#') }}"}, ""),
    "pebble-unsupported (Java method)": ({"call": {"bodyTemplate": "{{ payloadAsJson.name.indexOf('a') }}"}}, ""),
    "template-syntax": ({"body": "{% if true %}never closed"}, ""),
    "sut-endpoint-undefined": ({"call": {"pathTemplate": "{{ sut.endpoints['other'].baseUrl }}/x"}}, ""),
    "sut-field-unsupported": ({"call": {"pathTemplate": "{{ sut.endpoints['default'].upstreamBaseUrl }}/x"}}, ""),
    "csv-charset": (
        {"inputs": {"type": "CSV_DATASET", "csv": {"filePath": "/data/cards.csv", "charset": "ISO-8859-2"}}},
        "",
    ),
    "auth-profile-undefined": ({"call": {"authRef": {"profileId": "p", "applyAs": "HTTP_AUTHORIZATION_BEARER"}}}, ""),
}
"""One bundle per import error: the import reports it, validate finds it again on the manifest (the same count).
An entry with a reason is an expected failure, naming the helper item of issue 16 that fixes it."""


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(name, marks=[pytest.mark.xfail(strict=True, reason=reason)] if reason else [])
        for name, (_, reason) in IMPORT_ERRORS.items()
    ],
)
def test_every_import_error_is_a_validate_error_of_the_imported_manifest(tmp_path: Path, case: str) -> None:
    arguments, _ = IMPORT_ERRORS[case]
    result = _import(_journey_bundle(tmp_path, **arguments))
    code = case.split(" ", 1)[0]
    assert code in [c for c, _ in _errors(result)], result.findings
    validated = [f for f in validate_text(result.text).findings if f.severity == "error"]
    assert len(_errors(result)) == len(validated) >= 1, (_errors(result), [(f.code, f.path) for f in validated])
