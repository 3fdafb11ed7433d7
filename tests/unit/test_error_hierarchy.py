"""Every exception hivekeeper defines has one base and says what kind of trouble it is, without catching more
or less than before: each class keeps exactly the builtin bases it had, so every ``except ValueError`` or
``except ConnectionError`` (ours, pydantic's, a library's) catches what it caught before the hierarchy."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import hivekeeper
from hivekeeper.errors import HivekeeperError, InvalidInput, LimitExceeded, Refused, Unavailable

CATEGORIES: tuple[type[HivekeeperError], ...] = (InvalidInput, Unavailable, LimitExceeded, Refused)

# Every exception class in src/hivekeeper: the builtin it derives from (unchanged by the hierarchy) and its
# categories. A new class belongs here: pick its category in hivekeeper.errors and keep its builtin base.
EXPECTED: dict[str, tuple[type[BaseException], tuple[type[HivekeeperError], ...]]] = {
    "api.crd.SchemaError": (ValueError, (InvalidInput,)),
    "api.manifests.ManifestError": (ValueError, (InvalidInput,)),
    "api.roles.ConfigError": (ValueError, (InvalidInput,)),
    "cli.history_cmd.SwarmNotFound": (Exception, (InvalidInput,)),
    "cli.report_cmd.RecordNotFound": (Exception, (InvalidInput,)),
    "errors.HivekeeperError": (Exception, ()),
    "errors.InvalidInput": (Exception, (InvalidInput,)),
    "errors.Unavailable": (Exception, (Unavailable,)),
    "errors.LimitExceeded": (Exception, (LimitExceeded,)),
    "errors.Refused": (Exception, (Refused,)),
    "importer.bundle.BundleError": (Exception, (InvalidInput,)),
    "importer.spel.SpelUnsupported": (ValueError, (InvalidInput,)),
    "local.endpoints.SutFlagError": (ValueError, (InvalidInput,)),
    "local.controller.OutcomeFailed": (RuntimeError, ()),
    "local.debug_cli.DebugError": (RuntimeError, ()),
    "local.runner.RunError": (RuntimeError, ()),
    "local.demo_services.DemoNotStarted": (RuntimeError, (Unavailable,)),
    "local.runner.RunInputError": (RuntimeError, (InvalidInput,)),
    "local.tap.TapError": (RuntimeError, ()),
    "local.transports.BrokerUnavailable": (ConnectionError, (Unavailable,)),
    "operator.errors.OperatorError": (Exception, ()),
    "operator.errors.RetryLater": (Exception, (Unavailable,)),
    "operator.errors.InvalidResource": (Exception, (InvalidInput,)),
    "operator.errors.SettingsError": (Exception, (InvalidInput,)),
    "operator.observations.MalformedEvent": (ValueError, (InvalidInput,)),
    "operator.run_store.RunRecordError": (Exception, (InvalidInput,)),
    "worker.transports.rabbit.control.ControlUnavailable": (Exception, (Unavailable,)),
    "protocol.envelope.EnvelopeError": (ValueError, (InvalidInput,)),
    "protocol.naming.InvalidName": (ValueError, (InvalidInput,)),
    "protocol.redaction.RedactionConfigError": (ValueError, (InvalidInput,)),
    "protocol.signing.SigningKeyError": (ValueError, (InvalidInput,)),
    "protocol.batch.BatchError": (ValueError, (InvalidInput,)),
    "protocol.workitem.WorkItemError": (ValueError, (InvalidInput,)),
    "report.cluster_run.BadRunDocument": (Exception, (InvalidInput,)),
    "report.run_choice.NoRunSeries": (Exception, (InvalidInput,)),
    "report.run_choice.NoSuchRun": (Exception, (InvalidInput,)),
    "templating.budget.BudgetExceeded": (Exception, (LimitExceeded,)),
    "templating.engine.TemplateError": (ValueError, (InvalidInput,)),
    "templating.engine.TemplateBudgetError": (ValueError, (InvalidInput, LimitExceeded)),
    "templating.helpers.HelperError": (ValueError, (InvalidInput,)),
    "templating.jsonpointer.PointerError": (ValueError, (InvalidInput,)),
    "templating.regex.RegexError": (ValueError, (InvalidInput,)),
    "templating.sequence_format.SequenceFormatError": (ValueError, (InvalidInput,)),
    "validate.cel_rules.CelUnavailable": (RuntimeError, (Unavailable,)),
    "worker.control.StaleGeneration": (ValueError, (InvalidInput, Refused)),
    "worker.env.EnvError": (ValueError, (InvalidInput,)),
    "worker.main.BrokerUnreachable": (ConnectionError, (Unavailable,)),
    "worker.http.client.DroppedNotRetried": (Exception, (Unavailable,)),
    "worker.http.connection._Unsolicited": (Exception, ()),
    "worker.http_port.OriginError": (ValueError, (InvalidInput,)),
    "worker.result_rules.ResultRulesError": (ValueError, (InvalidInput,)),
    "worker.inputs.csv_table.CsvError": (ValueError, (InvalidInput,)),
    "worker.http_port.HttpError": (Exception, (Unavailable,)),
    "worker.auth_port.AuthFailed": (Exception, (Unavailable,)),
    "worker.auth.secrets.SecretUnreadable": (ValueError, (InvalidInput,)),
    "worker.http.tls.ClientCertError": (ValueError, (InvalidInput,)),
    "worker.http_port.HttpTimeout": (Exception, (Unavailable,)),
    "worker.http_port.HttpConnectError": (Exception, (Unavailable,)),
    "worker.http_port.HttpNameError": (Exception, (Unavailable,)),
    "worker.http_port.HttpProtocolError": (Exception, (Unavailable,)),
    "worker.http_port.ConnectionDropped": (Exception, (Unavailable,)),
    "worker.tcp_port.TcpEndpointError": (ValueError, (InvalidInput,)),
    "worker.tcp_port.TcpFrameError": (ValueError, (InvalidInput,)),
    "worker.tcp_port.TcpError": (Exception, (Unavailable,)),
    "worker.tcp_port.TcpConnectError": (Exception, (Unavailable,)),
    "worker.tcp_port.TcpTimeout": (Exception, (Unavailable,)),
    "worker.tcp_port.TcpTooLarge": (Exception, (Unavailable, LimitExceeded)),
    "worker.tcp_port.TcpFrameTooLarge": (Exception, (Unavailable, LimitExceeded)),
    "worker.tcp_port.TcpClosed": (Exception, (Unavailable,)),
    "worker.tcp_port.TcpEchoMismatch": (Exception, (Unavailable,)),
    "worker.ports.OutputRefused": (Exception, (Refused,)),
    "worker.ports.StoreUnavailable": (ConnectionError, (Unavailable,)),
    "worker.publishing.GaveUp": (Exception, (Unavailable,)),
    "worker.roles.base.DropItem": (Exception, (Refused,)),
    "worker.transports.rabbit.amqp.codec.CodecError": (ValueError, (InvalidInput,)),
    "worker.transports.rabbit.amqp.errors.AmqpError": (ConnectionError, ()),
    "worker.transports.rabbit.amqp.errors.ConnectionLost": (ConnectionError, (Unavailable,)),
    "worker.transports.rabbit.amqp.errors.PublishRefused": (ConnectionError, (Refused,)),
    "worker.transports.rabbit.amqp.errors.Unroutable": (ConnectionError, (Refused,)),
    "worker.transports.rabbit.amqp.errors.MessageTooLarge": (ConnectionError, (LimitExceeded, Refused)),
    "worker.transports.rabbit.amqp.errors.Nacked": (ConnectionError, (Unavailable,)),
    "worker.transports.rabbit.amqp.errors.ConfirmTimeout": (ConnectionError, (Unavailable,)),
    "worker.transports.rabbit.amqp.errors.BlockedTimeout": (ConnectionError, (Unavailable,)),
    "worker.transports.rabbit.amqp.url.BrokerUrlError": (ValueError, (InvalidInput,)),
}


def _classes_in(owner: object, module: str) -> Iterator[type]:
    """Classes defined in ``module`` and reachable from ``owner`` (the module, or a class nested in it)."""
    for value in vars(owner).values():
        if inspect.isclass(value) and value.__module__ == module and value is not owner:
            yield value
            yield from _classes_in(value, module)


def _exception_classes() -> dict[str, type[BaseException]]:
    """Every exception class defined in src/hivekeeper, private ones included, by dotted name. ``__main__``
    modules run their program when imported; they only call ``main()`` (checked by test_main_modules_...)."""
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(hivekeeper.__path__, "hivekeeper.", onerror=_cannot_import):
        if info.name.endswith(".__main__"):
            continue
        module = importlib.import_module(info.name)
        for cls in _classes_in(module, info.name):
            if issubclass(cls, BaseException):
                found[f"{info.name.removeprefix('hivekeeper.')}.{cls.__qualname__}"] = cls
    return found


def _cannot_import(name: str) -> None:
    raise AssertionError(f"{name} cannot be imported, so its exception classes cannot be checked")


def _builtins_of(cls: type[BaseException]) -> set[type]:
    return {base for base in cls.__mro__ if base.__module__ == builtins.__name__}


FOUND = _exception_classes()


def test_main_modules_define_no_class_so_the_walk_may_skip_them() -> None:
    for path in Path(hivekeeper.__file__).parent.rglob("__main__.py"):
        assert not any(isinstance(node, ast.ClassDef) for node in ast.walk(ast.parse(path.read_text()))), path


def test_the_walk_finds_the_classes_of_every_layer_private_ones_included() -> None:
    assert len(FOUND) >= 50
    assert "worker.http.connection._Unsolicited" in FOUND
    assert "operator.errors.RetryLater" in FOUND


@pytest.mark.parametrize("name", sorted(FOUND))
def test_every_exception_class_in_src_derives_from_the_common_base(name: str) -> None:
    assert issubclass(FOUND[name], HivekeeperError), f"{name} does not derive from hivekeeper.errors.HivekeeperError"


def test_every_exception_class_is_listed_with_its_builtin_base_and_category() -> None:
    unlisted = sorted(set(FOUND) - set(EXPECTED))
    gone = sorted(set(EXPECTED) - set(FOUND))
    assert not unlisted, f"add {unlisted} to EXPECTED in {__file__} with its builtin base and category"
    assert not gone, f"{gone} no longer exist(s): remove it from EXPECTED in {__file__}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_class_keeps_exactly_the_builtin_bases_it_had(name: str) -> None:
    builtin, _ = EXPECTED[name]
    assert _builtins_of(FOUND[name]) == set(builtin.__mro__), (
        f"{name} derives from {sorted(b.__name__ for b in _builtins_of(FOUND[name]))}, not from {builtin.__name__} "
        "alone: an `except` naming a builtin would now catch it differently"
    )


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_class_is_in_its_categories(name: str) -> None:
    _, categories = EXPECTED[name]
    assert tuple(c for c in CATEGORIES if issubclass(FOUND[name], c)) == categories


@pytest.mark.parametrize("category", [HivekeeperError, *CATEGORIES])
def test_the_base_and_the_categories_add_no_builtin_base_beyond_exception(category: type[HivekeeperError]) -> None:
    assert _builtins_of(category) == {Exception, BaseException, object}
    assert not {"__init__", "__new__", "__str__", "__reduce__"} & set(vars(category))


def _caught_by(error: Exception) -> str:
    try:
        raise error
    except ValueError:
        return "ValueError"
    except ConnectionError:
        return "ConnectionError"
    except Exception:
        return "Exception"


def test_a_builtin_handler_catches_what_it_caught_before() -> None:
    from hivekeeper.protocol.naming import InvalidName
    from hivekeeper.worker.http_port import HttpConnectError
    from hivekeeper.worker.ports import StoreUnavailable
    from hivekeeper.worker.transports.rabbit.amqp.errors import ConnectionLost

    assert _caught_by(InvalidName("alias 'a.b' cannot be used")) == "ValueError"
    assert _caught_by(StoreUnavailable("redis down", sent=False)) == "ConnectionError"
    assert _caught_by(ConnectionLost("closed by the broker")) == "ConnectionError"
    assert _caught_by(HttpConnectError("connection refused")) == "Exception"  # Unavailable, yet no ConnectionError


def test_connection_errors_keep_the_os_error_constructor_and_message() -> None:
    from hivekeeper.worker.ports import StoreUnavailable
    from hivekeeper.worker.transports.rabbit.amqp.errors import ConnectionLost

    lost = ConnectionLost(104, "reset by peer")
    assert (lost.errno, lost.strerror, str(lost)) == (104, "reset by peer", "[Errno 104] reset by peer")
    store = StoreUnavailable("Redis at redis://cache:6379 did not answer", sent=True)
    assert (str(store), store.args, store.errno, store.sent) == (
        "Redis at redis://cache:6379 did not answer",
        ("Redis at redis://cache:6379 did not answer",),
        None,
        True,
    )


def test_a_crossed_bound_names_the_bound() -> None:
    from hivekeeper.templating.budget import BudgetExceeded
    from hivekeeper.templating.engine import TemplateBudgetError
    from hivekeeper.worker.transports.rabbit.amqp.errors import MessageTooLarge

    exceeded = BudgetExceeded("wallTime", "rendering took 2 s", "1 s", "simplify the template")
    assert exceeded.limit == "wallTime"
    assert TemplateBudgetError("body", 3, exceeded).limit == "wallTime"
    assert MessageTooLarge("the item is 200 bytes").limit == "max_message_size"
