{{/*
Names and labels shared by every template.
*/}}

{{/* The chart name (nameOverride replaces it). */}}
{{- define "hivekeeper.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
The resource name prefix: fullnameOverride, else <release>-<name>, or just <release> when it already
contains the name. Truncated to 63 characters (DNS-1123 label).
*/}}
{{- define "hivekeeper.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* <fullname>-<suffix>, kept within 63 characters. Call with (list $ "suffix"). */}}
{{- define "hivekeeper.componentName" -}}
{{- $root := index . 0 }}
{{- $suffix := index . 1 }}
{{- printf "%s-%s" (include "hivekeeper.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-") $suffix }}
{{- end }}

{{- define "hivekeeper.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every resource. */}}
{{- define "hivekeeper.labels" -}}
{{ include "hivekeeper.commonLabels" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Labels of every resource but the instance (which the selector labels below carry). */}}
{{- define "hivekeeper.commonLabels" -}}
helm.sh/chart: {{ include "hivekeeper.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hivekeeper
{{- if .Chart.AppVersion }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The operator's labels. Its pods are `app.kubernetes.io/name: hivekeeper-operator` whatever nameOverride
says, as the worker pods the operator creates are `hivekeeper-worker`: tools find them by that name.
*/}}
{{- define "hivekeeper.operator.selectorLabels" -}}
app.kubernetes.io/name: hivekeeper-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end }}

{{- define "hivekeeper.operator.labels" -}}
{{ include "hivekeeper.commonLabels" . }}
{{ include "hivekeeper.operator.selectorLabels" . }}
{{- end }}

{{/* Labels of a bundled service (rabbitmq or redis). Call with (list $ "rabbitmq"). */}}
{{- define "hivekeeper.bundled.selectorLabels" -}}
{{- $root := index . 0 -}}
{{- $component := index . 1 -}}
app.kubernetes.io/name: {{ include "hivekeeper.name" $root }}-{{ $component }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ $component }}
{{- end }}

{{- define "hivekeeper.bundled.labels" -}}
{{- $root := index . 0 -}}
{{ include "hivekeeper.commonLabels" $root }}
{{ include "hivekeeper.bundled.selectorLabels" . }}
{{- end }}

{{/* The operator's ServiceAccount name. */}}
{{- define "hivekeeper.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "hivekeeper.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}; the tag defaults to the chart's appVersion. */}}
{{- define "hivekeeper.image" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag | toString) }}
{{- end }}
{{- end }}

{{/* Whether the chart writes the connection Secret (from URLs or the bundled services). */}}
{{- define "hivekeeper.chartSecret" -}}
{{- if or .Values.broker.url .Values.rabbitmq.bundled.enabled }}true{{ end }}
{{- end }}

{{/* The Secret the operator reads HIVEKEEPER_AMQP_URL from. */}}
{{- define "hivekeeper.brokerSecretName" -}}
{{- if include "hivekeeper.chartSecret" . }}
{{- include "hivekeeper.componentName" (list . "connection") }}
{{- else }}
{{- .Values.broker.existingSecret }}
{{- end }}
{{- end }}

{{- define "hivekeeper.rabbitmq.fullname" -}}
{{- include "hivekeeper.componentName" (list . "rabbitmq") }}
{{- end }}

{{- define "hivekeeper.redis.fullname" -}}
{{- include "hivekeeper.componentName" (list . "redis") }}
{{- end }}

{{/*
The generated password of a bundled service: the one already stored in its Secret (kept across
upgrades), else a new random one. Call with (list $ "rabbitmq"), or (list $ "rabbitmq" "workerPassword") for
another key of that Secret.
*/}}
{{- define "hivekeeper.bundled.password" -}}
{{- $root := index . 0 }}
{{- $component := index . 1 }}
{{- $key := "password" }}
{{- if gt (len .) 2 }}{{ $key = index . 2 }}{{ end }}
{{- $name := include "hivekeeper.componentName" (list $root $component) }}
{{- $existing := lookup "v1" "Secret" $root.Release.Namespace $name }}
{{- if and $existing $existing.data (hasKey $existing.data $key) }}
{{- index $existing.data $key | b64dec }}
{{- else }}
{{- randAlphaNum 32 }}
{{- end }}
{{- end }}

{{/* The namespaces that get the workers' Secret. */}}
{{- define "hivekeeper.workerSecretNamespaces" -}}
{{- toJson (default .Values.watchNamespaces .Values.workers.secret.namespaces) }}
{{- end }}

{{/* The peering object's name. */}}
{{- define "hivekeeper.peeringName" -}}
{{- default (include "hivekeeper.fullname" .) .Values.operator.peering.name }}
{{- end }}

{{/* The Secret holding the operator's signal signing key (key `signingKey`). */}}
{{- define "hivekeeper.signingSecretName" -}}
{{- .Values.signing.existingSecret | default (printf "%s-signing" (include "hivekeeper.fullname" .)) }}
{{- end }}

{{/* The kubernetes.io/tls Secret the operator serves the admission webhook with. */}}
{{- define "hivekeeper.webhookSecretName" -}}
{{- .Values.webhook.existingSecret | default (include "hivekeeper.componentName" (list . "webhook-tls")) }}
{{- end }}

{{/*
An AMQP URL's parts as Secret data (amqpHost, amqpPort, amqpUsername, amqpPassword, amqpVhost), for worker images
that read the broker in parts rather than as a URL (a `protocol: pockethive` role, docs/custom-images.md). Nothing
when the user or password holds %-escapes, which a template cannot decode: such a Secret needs the keys by hand.
*/}}
{{- define "hivekeeper.amqpParts" -}}
{{- $url := urlParse . }}
{{- if not (contains "%" $url.userinfo) }}
{{- $hostPort := splitList ":" $url.host }}
{{- $port := ternary "5671" "5672" (eq $url.scheme "amqps") }}
{{- if gt (len $hostPort) 1 }}{{ $port = last $hostPort }}{{ end }}
{{- $user := splitList ":" $url.userinfo }}
{{- $vhost := trimPrefix "/" $url.path | default "/" }}
amqpHost: {{ first $hostPort | b64enc | quote }}
amqpPort: {{ $port | b64enc | quote }}
amqpUsername: {{ first $user | b64enc | quote }}
amqpPassword: {{ rest $user | join ":" | b64enc | quote }}
amqpVhost: {{ $vhost | b64enc | quote }}
{{- end }}
{{- end }}
