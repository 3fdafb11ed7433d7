{{/*
Contradictory values fail the rendering (helm template, install, upgrade, lint) with one message per
problem, each saying how to fix it. Included from validate.yaml, which renders nothing else.
*/}}
{{- define "hivekeeper.validateValues" -}}
{{- $v := .Values }}
{{- $messages := list }}
{{- $externalBroker := or $v.broker.existingSecret $v.broker.url }}
{{- if and $v.rbac.namespaced (not $v.watchNamespaces) }}
{{- $messages = append $messages "rbac.namespaced=true needs watchNamespaces (a namespaced operator cannot watch the whole cluster). Set watchNamespaces: [perf] or rbac.namespaced=false." }}
{{- end }}
{{- if and $v.rabbitmq.bundled.enabled $externalBroker }}
{{- $messages = append $messages (printf "rabbitmq.bundled.enabled=true and an external broker (%s) are both set: the operator would not know which to use. Set broker.existingSecret=\"\" and broker.url=\"\" for the bundled RabbitMQ, or rabbitmq.bundled.enabled=false." (ternary (printf "broker.existingSecret=%s" $v.broker.existingSecret) "broker.url" (not (empty $v.broker.existingSecret)))) }}
{{- end }}
{{- if and $v.broker.existingSecret $v.broker.url }}
{{- $messages = append $messages (printf "broker.existingSecret=%s and broker.url are both set. Keep one: broker.existingSecret (recommended: the URL stays out of the values), or broker.url with broker.existingSecret=\"\"." $v.broker.existingSecret) }}
{{- end }}
{{- if not (or $externalBroker $v.rabbitmq.bundled.enabled) }}
{{- $messages = append $messages "no broker credentials: the operator needs an AMQP URL. Set broker.existingSecret to a Secret with the key amqpUrl (recommended), or broker.url, or rabbitmq.bundled.enabled=true for a quick start." }}
{{- end }}
{{- if and (gt (int $v.operator.replicas) 1) (not $v.operator.peering.enabled) }}
{{- $messages = append $messages (printf "operator.replicas=%d without operator.peering.enabled: standalone operators would all reconcile the same swarms. Set operator.peering.enabled=true (the replicas then take turns) or operator.replicas=1." (int $v.operator.replicas)) }}
{{- end }}
{{- if and $v.redis.url $v.redis.bundled.enabled }}
{{- $messages = append $messages "redis.url and redis.bundled.enabled=true are both set. Set redis.url=\"\" for the bundled Redis, or redis.bundled.enabled=false." }}
{{- end }}
{{- if and $v.broker.existingSecret (or $v.redis.url $v.redis.bundled.enabled) }}
{{- $messages = append $messages (printf "redis.%s is set with broker.existingSecret=%s: the chart does not write into your Secret. Add the key redisUrl to that Secret and unset redis.%s, or use broker.url/rabbitmq.bundled instead of broker.existingSecret." (ternary "url" "bundled.enabled" (not (empty $v.redis.url))) $v.broker.existingSecret (ternary "url" "bundled.enabled" (not (empty $v.redis.url)))) }}
{{- end }}
{{- if and $v.workers.secret.create $v.broker.existingSecret }}
{{- $messages = append $messages (printf "workers.secret.create=true with broker.existingSecret=%s: the chart cannot copy a Secret it does not know. Create %s in each swarm namespace yourself (workers.secret.create=false), or use broker.url/rabbitmq.bundled." $v.broker.existingSecret $v.workers.secret.name) }}
{{- end }}
{{- if and $v.workers.secret.create (not (or $v.workers.secret.namespaces $v.watchNamespaces)) }}
{{- $messages = append $messages "workers.secret.create=true needs namespaces: set workers.secret.namespaces: [perf] (or watchNamespaces, which it defaults to)." }}
{{- end }}
{{- if and $v.metrics.serviceMonitor.enabled (not $v.metrics.service.enabled) }}
{{- $messages = append $messages "metrics.serviceMonitor.enabled=true needs the metrics Service it selects. Set metrics.service.enabled=true." }}
{{- end }}
{{- if and (or $v.metrics.service.enabled $v.metrics.serviceMonitor.enabled) (eq (int $v.metrics.port) 0) }}
{{- $messages = append $messages "metrics.port=0 turns the operator's /metrics off, yet metrics.service or metrics.serviceMonitor is enabled. Set metrics.port: 9090 or disable them." }}
{{- end }}
{{- if and (eq (int $v.metrics.port) (int $v.operator.healthPort)) (ne (int $v.metrics.port) 0) }}
{{- $messages = append $messages (printf "metrics.port and operator.healthPort are both %d: the operator serves /metrics and /healthz on separate ports. Choose two ports." (int $v.metrics.port)) }}
{{- end }}
{{- if $messages }}
{{- fail (printf "\n\nhivekeeper: %s" (join "\nhivekeeper: " $messages)) }}
{{- end }}
{{- end }}
