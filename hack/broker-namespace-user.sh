#!/bin/sh
# One RabbitMQ user per swarm namespace, limited to that namespace's swarms (docs/operations.md, "One broker,
# several teams"). Usage: NAMESPACE=team-a PASSWORD=... hack/broker-namespace-user.sh
# Put amqp://hk-<namespace>:<password>@<broker>/ into that namespace's hivekeeper-broker Secret (key amqpUrl).
# Idempotent. RABBITMQCTL overrides the rabbitmqctl command (e.g. "rabbitmqctl -n rabbit@host").
set -eu
: "${NAMESPACE:?set NAMESPACE to the swarm namespace}" "${PASSWORD:?set PASSWORD}"
ctl=${RABBITMQCTL:-rabbitmqctl}
vhost=${RABBITMQ_VHOST:-/}
user="hk-$NAMESPACE"
ns=$(printf '%s' "$NAMESPACE" | sed 's/[.[\*^$()+?{|]/\\&/g')

if $ctl list_users --quiet --no-table-headers | cut -f1 | grep -qx "$user"; then
  $ctl change_password "$user" "$PASSWORD"
else
  $ctl add_user "$user" "$PASSWORD"
fi
# Swarm ids are <namespace>_<name>: work exchanges and queues hivekeeper.<ns>_<name>.*, control queues
# hivekeeper.control.<ns>_<name>.*; the shared control exchange itself, and server-named queues.
own="hivekeeper\\.${ns}_.*|hivekeeper\\.control\\.${ns}_.*"
$ctl set_permissions -p "$vhost" "$user" \
  "^(${own}|hivekeeper\\.control|amq\\.gen-.*)\$" \
  "^(${own}|hivekeeper\\.control)\$" \
  "^(${own}|hivekeeper\\.control|amq\\.gen-.*)\$"
# On the control exchange: publish only its own swarms' events; bind only to its own (or everyone's) signals.
$ctl set_topic_permissions -p "$vhost" "$user" hivekeeper.control \
  "^event\\.[^.]+\\.[^.]+\\.${ns}_" "^signal\\.[^.]+\\.(${ns}_[^.]*|ALL)\\."
