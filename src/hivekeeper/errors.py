"""The root of hivekeeper's exceptions: one base, and four categories that say what kind of trouble it is.

Every exception class hivekeeper defines derives from :class:`HivekeeperError`, and most from one of its
categories. The categories are about what the reader of the message has to do:

- :class:`InvalidInput`: something given to hivekeeper is wrong (a manifest, a role config, a template, a
  control or work message, a URL, an environment variable, an option, a file). The message names the field,
  the value and the fix; the same input fails the same way until it is edited.
- :class:`Unavailable`: something hivekeeper needs cannot be reached, went away, could not take a request
  right now, or gave no usable answer in time (the broker, Redis, the SUT, the API server, an optional
  library). Usually transient: workers and the operator retry, and the message names the server (never its
  password) and the cause.
- :class:`LimitExceeded`: a bound was crossed (a template budget, the broker's message size). ``limit``
  names the bound, and the message says what the bound allows and how to stay within it or raise it.
- :class:`Refused`: the other side understood the request and declined it for what it is (a role dropping an
  item, an output or the broker refusing a publish, a worker refusing a command): sending the same thing again
  fails again, so nothing retries it. (A broker ``Nacked`` a publish for the state it is in, a full queue, say:
  that one is :class:`Unavailable` and is retried.)

A few classes are families by origin rather than kind (``AmqpError``, ``OperatorError``) and take their
category per subclass. Classes that stand for more than one kind sit directly under the base: the command
errors of ``hivekeeper run``, ``tap`` and ``debug`` (they wrap a wrong option as well as an unreachable
broker, with the command's context; ``TapError.exit_code`` tells them apart), the local controller's
``OutcomeFailed`` (a worker refused a command, or did not answer it), and one private parser signal.

Why the categories carry no builtin base: each class keeps the builtin base it always had, written next to
its category (``class InvalidName(InvalidInput, ValueError)``, ``class AmqpError(HivekeeperError,
ConnectionError)``), the way ``requests`` does. An ``except ValueError`` or ``except ConnectionError``,
here or in a library (pydantic turns a ``ValueError`` raised in a validator into a validation error; a
``ConnectionError`` is an ``OSError``), therefore catches exactly what it caught before the categories
existed, and joining a category never changes what an existing handler catches. The categories define no
methods either, so a class's message, ``str()`` and pickling are its builtin base's.

This module is the lowest layer: it imports nothing from hivekeeper, and every package may import it.
"""

from __future__ import annotations


class HivekeeperError(Exception):
    """Base of every exception hivekeeper defines; catch it to handle any of them."""


class InvalidInput(HivekeeperError):
    """Something given to hivekeeper is wrong; the message names the field, the value and the fix."""


class Unavailable(HivekeeperError):
    """Something hivekeeper needs cannot be reached, went away, could not take a request now, or gave no usable
    answer in time."""


class LimitExceeded(HivekeeperError):
    """A bound was crossed; ``limit`` names it, and the message says what it allows and the fix."""

    limit: str
    """The bound's name as the user sets it (``wallTime``, ``max_message_size``, ...)."""


class Refused(HivekeeperError):
    """The other side understood the request and declined it for what it is: sending it again fails again."""
