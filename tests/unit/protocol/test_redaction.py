"""Credential-named values are hidden wherever items are shown to a person."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from hivekeeper.local.tap import full_text, summary_line
from hivekeeper.protocol import redaction
from hivekeeper.protocol.redaction import REDACTED, is_secret_name, redact_tree
from hivekeeper.protocol.workitem import new_item


def test_credential_names_are_recognised_whatever_their_case_and_separators() -> None:
    for name in ("Authorization", "proxy-authorization", "Cookie", "Set-Cookie", "X-Api-Key", "x_api_key",
                 "X-Auth-Token", "refresh_token", "clientSecret", "password", "DB_PASSWD", "credentials"):  # fmt: skip
        assert is_secret_name(name), name
    for name in ("Accept", "Content-Type", "x-ph-call-id", "cardId", "customerId", "id"):
        assert not is_secret_name(name), name
    assert is_secret_name("X-Tenant", extra=["x-tenant"]), "a swarm can name more"


def test_redaction_reaches_into_json_strings_and_keeps_everything_else() -> None:
    request = orjson.dumps(
        {"method": "GET", "path": "/cards/1", "headers": {"Authorization": "Bearer s3cret", "Accept": "*/*"}}
    ).decode()
    document = {"payload": request, "headers": {"cookie": "sid=abc"}, "steps": [{"n": 1}], "note": "{not json"}
    hidden = redact_tree(document)
    assert hidden["headers"] == {"cookie": REDACTED}
    assert orjson.loads(hidden["payload"])["headers"] == {"Authorization": REDACTED, "Accept": "*/*"}
    assert (hidden["steps"], hidden["note"]) == ([{"n": 1}], "{not json")
    assert redact_tree("plain text") == "plain text"
    assert "s3cret" in document["payload"], "the input is not changed"


def test_tap_output_hides_credentials_unless_asked_to_show_them() -> None:
    payload = orjson.dumps({"headers": {"Authorization": "Bearer s3cret"}, "path": "/cards/1"}).decode()
    body = new_item(payload, swarm="s", service="builder", instance="b-1", headers={"x-api-key": "k-123"}).to_json()
    for shown in (full_text(body), summary_line(body)):
        assert "s3cret" not in shown
        assert REDACTED in shown
    assert "k-123" not in full_text(body)
    assert "s3cret" in full_text(body, show_secrets=True)
    assert "s3cret" in summary_line(body, show_secrets=True)


def test_an_error_message_never_echoes_a_value_under_a_credential_name() -> None:
    from hivekeeper.protocol.redaction import got

    assert got(("threadCount",), "many") == " (got 'many')"
    assert got(("redis", "password"), "S3cretPW") == f" (got {REDACTED})"
    assert got(("headers", "Authorization"), "Bearer x") == f" (got {REDACTED})"
    assert got(("config",), {"a": 1}) == ""
    assert got(("config",), None) == ""


def test_a_refused_worker_config_names_the_field_but_not_the_secret() -> None:
    import pytest

    from hivekeeper.api import roles as role_configs
    from hivekeeper.api.roles import ConfigError

    with pytest.raises(ConfigError) as refused:
        role_configs.validate(
            "processor", {"baseUrl": "http://127.0.0.1:1", "password": "S3cretPW", "threadCount": "many"}
        )
    message = str(refused.value)
    assert "password" in message
    assert "S3cretPW" not in message
    assert "'many'" in message, "other values are still shown, so the fix is obvious"


@pytest.fixture
def restore_configured() -> Iterator[None]:
    saved = redaction.configured()
    yield
    redaction.configure(saved)


@pytest.mark.usefixtures("restore_configured")
def test_hivekeeper_redact_adds_names_for_every_place_at_once() -> None:
    assert not redaction.is_secret_name("X-Tenant-Key")
    assert redaction.configure_from({"HIVEKEEPER_REDACT": "x-tenant-key, session_ref"}) == (
        "x-tenant-key",
        "session_ref",
    )
    assert redaction.is_secret_name("X-Tenant-Key")
    assert redaction.redact_tree({"sessionRef": "s1", "n": 1}) == {"sessionRef": "[redacted]", "n": 1}
    assert redaction.redact_headers({"X-TENANT-KEY": ["a", "b"]}) == {"X-TENANT-KEY": ["[redacted]", "[redacted]"]}
    assert redaction.redact_text("x-tenant-key=abc&page=2") == "x-tenant-key=[redacted]&page=2"
    assert redaction.got(["config", "session_ref"], "abc") == " (got [redacted])"


@pytest.mark.usefixtures("restore_configured")
@pytest.mark.parametrize(
    ("value", "problem"),
    [("good, bad name", "'bad name' is not a header or field name"), ("x" * 129, "up to 128 characters")],
)
def test_a_bad_hivekeeper_redact_is_refused_with_the_name(value: str, problem: str) -> None:
    with pytest.raises(redaction.RedactionConfigError, match=problem):
        redaction.configure_from({"HIVEKEEPER_REDACT": value})


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("Authorization: Bearer abc.def", "Authorization: Bearer [redacted]"),
        ("retrying with authorization=Basic dXNlcjpwdw==", "retrying with authorization=Basic [redacted]"),
        ("token=abc&page=2", "token=[redacted]&page=2"),
        ('{"password": "s3cret", "user": "bob"}', '{"password": "[redacted]", "user": "bob"}'),
        ("Cookie: sid=1; theme=dark", "Cookie: [redacted]; theme=dark"),
        ("x-api-key:KEY123 accepted", "x-api-key:[redacted] accepted"),
        ("status: 503 from /cards", "status: 503 from /cards"),
    ],
)
def test_text_shows_no_value_after_a_secret_name(text: str, shown: str) -> None:
    assert redaction.redact_text(text) == shown
