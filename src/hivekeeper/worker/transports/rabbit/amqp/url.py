"""The broker URL: one meaning for both of a worker's connections (aio-pika for control, the lean client for work).

aio-pika (through aiormq) reads a handful of query options from the URL and silently ignores the
rest; the lean client used to ignore all of them. So one Secret could mean TLS with a private CA on
the control plane and default verification on the work plane. Every URL now goes through
:func:`parse`: the options below are read once, applied the same way to both connections, and
anything else is refused with the option's name and the fix.

``amqp[s]://user:password@host[:port]/[vhost][?option=value&...]``

| option | default | meaning |
|---|---|---|
| ``heartbeat`` | 60 | seconds; the value the client asks for (RabbitMQ's own default is 60); 0 disables |
| ``connection_timeout`` | 10 | seconds to connect: TCP, TLS and the AMQP handshake |
| ``name`` | | connection name shown by ``rabbitmqctl list_connections`` and the management UI |
| ``auth`` | ``plain`` | ``plain`` (user and password) or ``external`` (the TLS client certificate) |
| ``cafile`` / ``capath`` / ``cadata`` | system CAs | CAs that verify the broker (``cadata``: base64 PEM) |
| ``certfile`` / ``keyfile`` | | client certificate and its key |
| ``no_verify_ssl`` | 0 | 1 skips verifying the broker's certificate and host name (tests only) |
| ``max_message_size`` | 16777216 | bytes: the broker's ``max_message_size``; larger items are never sent |

The TLS options need ``amqps://``.

The names are aiormq's, so URLs that worked with aio-pika keep their meaning. Pure: nothing here
opens a socket (the TLS context is built on demand by :meth:`BrokerUrl.ssl_context`).
"""

from __future__ import annotations

import base64
import binascii
import ssl
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, quote, unquote, urlsplit

DEFAULT_HEARTBEAT = 60
"""RabbitMQ's server default and aio-pika's: the same on both connections unless the URL says otherwise."""
DEFAULT_CONNECTION_TIMEOUT = 10.0
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
"""RabbitMQ 4.x's default ``max_message_size`` (16 MiB). 3.x (3.10.8 on the test bench) defaults to 128 MiB,
so 16 MiB is below the limit of every supported broker unless an operator lowered it; raise it in the URL
for brokers that allow more."""
MAX_MESSAGE_SIZE_CEILING = 512 * 1024 * 1024
"""RabbitMQ refuses a ``max_message_size`` above 512 MiB."""
MIN_MESSAGE_SIZE = 4096

TLS_OPTIONS = ("cafile", "capath", "cadata", "certfile", "keyfile", "no_verify_ssl")
OPTIONS = ("heartbeat", "connection_timeout", "name", "auth", *TLS_OPTIONS, "max_message_size")

_ONE_CONNECTION_ONLY = {
    "reconnect_interval": "it is an aio-pika option the work-plane connection would not honour (the worker "
    "reconnects both connections with its own backoff); remove it",
    "fail_fast": "it is an aio-pika option the work-plane connection would not honour; remove it",
    "interleave": "it is an aio-pika option the work-plane connection would not honour; remove it",
    "happy_eyeballs_delay": "it is an aio-pika option the work-plane connection would not honour; remove it",
    "timeout": "aio-pika reads it but never uses it; use connection_timeout (seconds to connect)",
    "channel_max": "neither connection takes it from the URL; remove it",
    "frame_max": "neither connection takes it from the URL; remove it",
}


class BrokerUrlError(ValueError):
    """The broker URL cannot be used; the message names the part, its value (never the password) and the fix."""


@dataclass(frozen=True)
class BrokerUrl:
    scheme: str
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    vhost: str
    heartbeat: int = DEFAULT_HEARTBEAT
    connection_timeout: float = DEFAULT_CONNECTION_TIMEOUT
    name: str | None = None
    auth: str = "plain"
    cafile: str | None = None
    capath: str | None = None
    cadata: str | None = None
    certfile: str | None = None
    keyfile: str | None = None
    verify: bool = True
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    @property
    def tls(self) -> bool:
        return self.scheme == "amqps"

    def redacted(self) -> str:
        """The URL without its password or query, for messages."""
        user = f"{quote(self.username, safe='')}:***@" if self.username else ""
        return f"{self.scheme}://{user}{self.host}:{self.port}/{_path(self.vhost)}"

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of both connections (None for ``amqp://``); built like aiormq builds its own."""
        if not self.tls:
            return None
        try:
            cadata = base64.b64decode(self.cadata).decode() if self.cadata else None
            context = ssl.create_default_context(
                ssl.Purpose.SERVER_AUTH, cafile=self.cafile, capath=self.capath, cadata=cadata
            )
            if self.certfile:
                context.load_cert_chain(self.certfile, self.keyfile)
        except (OSError, ssl.SSLError, ValueError, binascii.Error) as exc:
            raise BrokerUrlError(
                f"the broker URL's TLS options cannot be loaded ({type(exc).__name__}: {exc}); check that cafile, "
                "capath, certfile and keyfile name readable PEM files in the container and cadata is base64 PEM"
            ) from exc
        if not self.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    def aio_pika_url(self) -> str:
        """The URL handed to aio-pika: only what aiormq reads from a URL, with our defaults written out
        (aiormq takes ``heartbeat``, ``name`` and ``auth`` from the query). The rest goes in as arguments:
        ``timeout=connection_timeout`` and ``ssl_context=ssl_context()`` (see ``transports.rabbit.control.connect``)."""
        user = quote(self.username, safe="")
        password = quote(self.password, safe="")
        query = [f"heartbeat={self.heartbeat}"]
        if self.name:
            query.append(f"name={quote(self.name, safe='')}")
        if self.auth != "plain":
            query.append(f"auth={self.auth}")
        return f"{self.scheme}://{user}:{password}@{self.host}:{self.port}/{_path(self.vhost)}?{'&'.join(query)}"


def parse(url: str) -> BrokerUrl:
    """Read a broker URL; refuse unknown options and bad values, naming the option and the fix."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # its message may quote part of the password: not shown
        raise BrokerUrlError(
            "the broker URL is malformed: its port is not a number, or its user or password holds an unescaped "
            "'/', '?', '#' or '@' (percent-encode them); expected amqp[s]://user:password@host:port/vhost"
        ) from None
    if parts.scheme not in ("amqp", "amqps"):
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise BrokerUrlError(f"the broker URL must start with amqp:// or amqps:// (got {got})")
    if not parts.hostname:
        raise BrokerUrlError("the broker URL has no host; expected amqp[s]://user:password@host:port/vhost")
    tls = parts.scheme == "amqps"
    options = _options(parts.query, tls)
    auth = options.get("auth", "plain").lower()
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return BrokerUrl(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port or (5671 if tls else 5672),
        username=unquote(parts.username) if parts.username is not None else "guest",
        password=unquote(parts.password) if parts.password is not None else "guest",
        vhost=unquote(path) if path else "/",
        heartbeat=_integer(options, "heartbeat", DEFAULT_HEARTBEAT, 0, 65535, "seconds (0 disables heartbeats)"),
        connection_timeout=_seconds(options, "connection_timeout", DEFAULT_CONNECTION_TIMEOUT),
        name=options.get("name") or None,
        auth=auth,
        cafile=options.get("cafile") or None,
        capath=options.get("capath") or None,
        cadata=options.get("cadata") or None,
        certfile=options.get("certfile") or None,
        keyfile=options.get("keyfile") or None,
        verify=_flag(options, "no_verify_ssl") is False,
        max_message_size=_integer(
            options,
            "max_message_size",
            DEFAULT_MAX_MESSAGE_SIZE,
            MIN_MESSAGE_SIZE,
            MAX_MESSAGE_SIZE_CEILING,
            "bytes (the broker's max_message_size)",
        ),
    )


def _options(query: str, tls: bool) -> dict[str, str]:
    """The query options, each known and given once, TLS ones only with TLS; ``auth`` is checked."""
    options: dict[str, str] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key in options:
            raise BrokerUrlError(f"broker URL option {key} is given twice; keep one")
        if key not in OPTIONS:
            reason = _ONE_CONNECTION_ONLY.get(key)
            if reason is None:
                reason = f"it is not a broker URL option; the options are {', '.join(OPTIONS)} (docs/operations.md)"
            raise BrokerUrlError(f"broker URL option {key}={_shown(value)} is refused: {reason}")
        if key in TLS_OPTIONS and not tls:
            raise BrokerUrlError(f"broker URL option {key} needs TLS: use an amqps:// URL, or remove {key}")
        options[key] = value
    if "keyfile" in options and "certfile" not in options:
        raise BrokerUrlError("broker URL option keyfile needs certfile (the client certificate the key belongs to)")
    auth = options.get("auth", "plain").lower()
    if auth not in ("plain", "external"):
        raise BrokerUrlError(
            f"broker URL option auth={_shown(options['auth'])} is not supported: use plain (user and "
            "password) or external (the TLS client certificate, with certfile)"
        )
    if auth == "external" and "certfile" not in options:
        raise BrokerUrlError(
            "broker URL option auth=external needs certfile (and amqps://): the broker reads the user "
            "from the client certificate"
        )
    return options


def _path(vhost: str) -> str:
    """The URL path of a vhost: empty for the default vhost ``/`` (what aiormq reads as ``/``)."""
    return "" if vhost == "/" else quote(vhost, safe="")


def _shown(value: str) -> str:
    return repr(value if len(value) <= 40 else value[:40] + "...")


def _integer(options: dict[str, str], key: str, default: int, low: int, high: int, unit: str) -> int:
    text = options.get(key)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        raise BrokerUrlError(
            f"broker URL option {key}={_shown(text)} must be a whole number of {unit} from {low} to {high}"
        )
    return value


def _seconds(options: dict[str, str], key: str, default: float) -> float:
    text = options.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 300:
        raise BrokerUrlError(f"broker URL option {key}={_shown(text)} must be a number of seconds above 0, at most 300")
    return value


def _flag(options: dict[str, str], key: str) -> bool:
    text = options.get(key, "0")
    if text in ("0", "false", "no", ""):
        return False
    if text in ("1", "true", "yes"):
        return True
    raise BrokerUrlError(f"broker URL option {key}={_shown(text)} must be 1 or 0")
