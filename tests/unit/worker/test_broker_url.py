"""One meaning of the broker URL: its options are read once, handed to aio-pika and to the lean client
alike, and anything either would silently ignore is refused with the option's name and the fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiormq
import pytest

from hivekeeper.protocol import naming
from hivekeeper.worker.env import EnvError, WorkerEnv
from hivekeeper.worker.transports.rabbit.amqp.url import (
    DEFAULT_HEARTBEAT,
    DEFAULT_MAX_MESSAGE_SIZE,
    OPTIONS,
    BrokerUrlError,
    parse,
)
from testbench.pki import make_pki


def test_a_plain_url_gets_the_documented_defaults() -> None:
    url = parse("amqp://guest:s3cret@rabbit.perf:5673/")
    assert (url.host, url.port, url.username, url.password, url.vhost) == ("rabbit.perf", 5673, "guest", "s3cret", "/")
    assert url.heartbeat == DEFAULT_HEARTBEAT == 60
    assert url.connection_timeout == 10.0
    assert url.max_message_size == DEFAULT_MAX_MESSAGE_SIZE == 16 * 1024 * 1024
    assert url.ssl_context() is None
    assert parse("amqps://h").port == 5671
    assert parse("amqp://u:p@h/perf%2Fteam").vhost == "perf/team"


def test_every_documented_option_is_read() -> None:
    url = parse(
        "amqps://u:p@h/?heartbeat=15&connection_timeout=2.5&name=caller-0&auth=EXTERNAL&certfile=/c.pem"
        "&keyfile=/k.pem&cafile=/ca.pem&capath=/cas&no_verify_ssl=1&max_message_size=65536"
    )
    assert (url.heartbeat, url.connection_timeout, url.name, url.auth) == (15, 2.5, "caller-0", "external")
    assert (url.cafile, url.capath, url.certfile, url.keyfile, url.verify) == (
        "/ca.pem",
        "/cas",
        "/c.pem",
        "/k.pem",
        False,
    )
    assert url.max_message_size == 65536


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("heartbeet=5", r"option heartbeet='5' is refused: it is not a broker URL option; the options are heartbeat"),
        ("reconnect_interval=5", r"aio-pika option the work-plane connection would not honour"),
        ("timeout=5", r"aio-pika reads it but never uses it; use connection_timeout"),
        ("frame_max=4096", r"neither connection takes it from the URL"),
        ("heartbeat=-1", r"heartbeat='-1' must be a whole number of seconds \(0 disables heartbeats\) from 0 to 65535"),
        ("heartbeat=ten", r"heartbeat='ten' must be a whole number"),
        ("connection_timeout=0", r"connection_timeout='0' must be a number of seconds above 0, at most 300"),
        ("max_message_size=1", r"max_message_size='1' must be a whole number of bytes .* from 4096 to 536870912"),
        ("cafile=/ca.pem", r"option cafile needs TLS: use an amqps:// URL, or remove cafile"),
        ("heartbeat=5&heartbeat=6", r"option heartbeat is given twice; keep one"),
        ("auth=amqplain", r"auth='amqplain' is not supported: use plain .* or external"),
    ],
)
def test_a_bad_option_is_refused_naming_it_and_the_fix(query: str, message: str) -> None:
    with pytest.raises(BrokerUrlError, match=message):
        parse(f"amqp://guest:s3cret@h/?{query}")


def test_errors_never_show_the_password() -> None:
    for url in ("amqp://u:s3cret@h/?bogus=1", "amqp://u:s3/cret@h/", "http://u:s3cret@h/", "amqp://u:s3cret@/"):
        with pytest.raises(BrokerUrlError) as caught:
            parse(url)
        assert "s3" not in str(caught.value), str(caught.value)


def test_tls_options_apply_to_a_context_that_verifies_with_the_given_ca(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    context = parse(f"amqps://u:p@localhost/?cafile={pki.ca_cert}").ssl_context()
    assert context is not None
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert any(ca["subject"] == ((("commonName", "hivekeeper-test-ca"),),) for ca in context.get_ca_certs())
    relaxed = parse("amqps://u:p@localhost/?no_verify_ssl=1").ssl_context()
    assert relaxed is not None
    assert relaxed.verify_mode == ssl.CERT_NONE
    assert not relaxed.check_hostname
    with pytest.raises(BrokerUrlError, match=r"TLS options cannot be loaded .* cafile, capath, certfile and keyfile"):
        parse(f"amqps://u:p@localhost/?cafile={tmp_path / 'missing.pem'}").ssl_context()


async def test_aio_pika_reads_the_same_heartbeat_name_vhost_and_auth_from_the_url_it_is_given() -> None:
    url = parse("amqps://us%40er:p%2Fw@rabbit:5999/perf?heartbeat=7&name=caller-0&no_verify_ssl=1")
    seen = aiormq.Connection(url.aio_pika_url())  # what aio-pika hands to aiormq: parsed, not connected
    assert seen.heartbeat_timeout == 7
    assert seen.connection_name == "caller-0"
    assert seen.vhost == "perf"
    assert (seen.url.host, seen.url.port, seen.url.user, seen.url.password) == ("rabbit", 5999, "us@er", "p/w")
    assert set(seen.url.query) == {"heartbeat", "name"}, "TLS goes in as ssl_context, not as URL options"
    default = aiormq.Connection(parse("amqp://u:p@h").aio_pika_url())
    assert (default.heartbeat_timeout, default.vhost) == (DEFAULT_HEARTBEAT, "/")


def test_the_options_are_documented_for_operators() -> None:
    text = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    for option in OPTIONS:
        assert f"`{option}`" in text, f"docs/operations.md does not document broker URL option {option}"


def test_a_worker_with_a_bad_broker_url_option_does_not_start_and_says_why() -> None:
    environ = {
        "HIVEKEEPER_SWARM_ID": "s",
        "HIVEKEEPER_ROLE": "r",
        "HIVEKEEPER_ROLE_KIND": "processor",
        "HIVEKEEPER_INSTANCE": "i",
        "HIVEKEEPER_AMQP_URL": "amqp://u:s3cret@h/?heartbeet=5",
    }
    with pytest.raises(EnvError, match="HIVEKEEPER_AMQP_URL: broker URL option heartbeet='5' is refused") as caught:
        WorkerEnv.from_environ(environ)
    assert "s3cret" not in str(caught.value)


def test_a_worker_reads_its_exchange_names_and_refuses_a_bad_one_naming_it() -> None:
    environ = {
        "HIVEKEEPER_SWARM_ID": "s",
        "HIVEKEEPER_ROLE": "r",
        "HIVEKEEPER_ROLE_KIND": "processor",
        "HIVEKEEPER_INSTANCE": "i",
        "HIVEKEEPER_AMQP_URL": "amqp://u:p@h/",
    }
    assert WorkerEnv.from_environ(environ).exchanges == naming.DEFAULT_EXCHANGES
    pockethive = {**environ, "HIVEKEEPER_CONTROL_EXCHANGE": "ph.control", "HIVEKEEPER_WORK_EXCHANGE": "ph.{swarm}.hive"}
    assert WorkerEnv.from_environ(pockethive).exchanges.work_exchange("s") == "ph.s.hive"
    refused = r"HIVEKEEPER_CONTROL_EXCHANGE / HIVEKEEPER_WORK_EXCHANGE: control exchange 'ph control'"
    with pytest.raises(EnvError, match=refused):
        WorkerEnv.from_environ({**environ, "HIVEKEEPER_CONTROL_EXCHANGE": "ph control"})
