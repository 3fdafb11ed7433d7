#!/bin/sh
# Least-privilege users for the bundled RabbitMQ (docs/decisions/0007), run by its postStart hook once the
# node is up, and by tests/integration/test_broker_users.py against the bench's RabbitMQ.
#
# - OPERATOR_USER (the node's default user, which the image creates as an administrator) keeps full rights on
#   the vhost, which it needs to declare and delete every swarm's queues, but loses the administrator tag:
#   it cannot log in to the management UI or create users.
# - WORKER_USER (in the workers' Secret) may only declare, publish to and read `hivekeeper.*` names (and the
#   exchanges EXCHANGE_PATTERN matches, when the chart's `exchanges` are not ours), and may publish only
#   `event.*` on the control exchange (CONTROL_EXCHANGE, default hivekeeper.control): a worker credential cannot
#   send a signal at all.
#
# Idempotent: a restarted node (or a new password) gets the same users and rights again.
set -eu
: "${OPERATOR_USER:?}" "${WORKER_USER:?}" "${WORKER_PASS:?}"
ctl=${RABBITMQCTL:-rabbitmqctl}
vhost=${RABBITMQ_VHOST:-/}
control=${CONTROL_EXCHANGE:-hivekeeper.control}
names='hivekeeper\..*'
if [ -n "${EXCHANGE_PATTERN:-}" ]; then
  names="$names|$EXCHANGE_PATTERN"
fi

$ctl await_startup
$ctl set_user_tags "$OPERATOR_USER"
if $ctl list_users --quiet --no-table-headers | cut -f1 | grep -qx "$WORKER_USER"; then
  $ctl change_password "$WORKER_USER" "$WORKER_PASS"
else
  $ctl add_user "$WORKER_USER" "$WORKER_PASS"
fi
$ctl set_user_tags "$WORKER_USER"
# configure: declare its queues and exchanges (and server-named reply queues); write: publish to them, and to
# the default exchange (the dead-letter queue is published through it); read: consume and bind.
$ctl set_permissions -p "$vhost" "$WORKER_USER" \
  "^($names|amq\\.gen-.*)\$" "^($names|amq\\.default)\$" "^($names|amq\\.gen-.*)\$"
# On the control exchange: publish events only; bind (read) signals only.
$ctl set_topic_permissions -p "$vhost" "$WORKER_USER" "$control" '^event\.' '^signal\.'
