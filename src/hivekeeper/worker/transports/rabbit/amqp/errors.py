"""Errors of the lean AMQP client, split by what a publisher should do about them.

RabbitMQ's guidance on publisher confirms: a publish that was refused for what it *is* (unroutable,
too large) fails the same way every time, so retrying it only loops; a publish whose fate is
*unknown* (the connection dropped, the broker blocked publishers, no confirm came in time, the
broker nacked it) may succeed when sent again — at the price of a possible duplicate, which
at-least-once delivery accepts. ``PublishRefused`` is the first kind; everything else is the second.
"""

from __future__ import annotations


class AmqpError(ConnectionError):
    """Base of errors from the lean client."""


class ConnectionLost(AmqpError):
    """The connection (or channel) closed; the reason says who closed it and why."""


class PublishRefused(AmqpError):
    """The broker will never take this item as it is: sending it again fails again (permanent)."""


class Unroutable(PublishRefused):
    """A mandatory publish found no queue (the broker returned it)."""


class MessageTooLarge(PublishRefused):
    """The body is larger than the broker's ``max_message_size`` (refused before sending, or by the broker)."""


class Nacked(AmqpError):
    """The broker nacked the publish (a queue refused it: ``reject-publish`` overflow or an internal error)."""


class ConfirmTimeout(AmqpError):
    """No confirm came within the confirm timeout; the item may or may not be in the queue."""


class BlockedTimeout(AmqpError):
    """The broker blocked publishing (a memory or disk alarm) for longer than the blocked timeout."""
