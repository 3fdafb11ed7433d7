#!/usr/bin/env bash
# `make kind-up`: a kind cluster with hivekeeper installed by its Helm chart, the bundled RabbitMQ and Redis, a
# demo SUT, and the quickstart swarm running against it. Needs docker (an engine), kind, kubectl and helm.
#   KIND_CLUSTER (hivekeeper)  cluster name     IMAGE_TAG (dev)          tag of the images built and loaded
#   HIVEKEEPER_NAMESPACE (hivekeeper)  operator namespace   SWARM_NAMESPACE (perf)  where the quickstart runs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

cluster=${KIND_CLUSTER:-hivekeeper}
tag=${IMAGE_TAG:-dev}
system=${HIVEKEEPER_NAMESPACE:-hivekeeper}
perf=${SWARM_NAMESPACE:-perf}

need() {
  command -v "$1" >/dev/null 2>&1 || { echo "kind-up: $1 is not installed; $2" >&2; exit 1; }
}
need docker "install Docker Engine (kind runs its node as a container)"
need kind "install it with \`go install sigs.k8s.io/kind@v0.33.0\`"
need kubectl "install kubectl 1.35 or newer"
need helm "install Helm 3 (\`go install helm.sh/helm/v3/cmd/helm@v3.22.0\`)"
docker info >/dev/null 2>&1 || { echo "kind-up: no Docker engine answers (\`docker info\` failed); start it first" >&2; exit 1; }

if kind get clusters | grep -qx "$cluster"; then
  echo "kind-up: cluster $cluster exists; reusing it"
else
  kind create cluster --name "$cluster" --config hack/kind/cluster.yaml --wait 120s
fi
context="kind-$cluster"

IMAGE_TAG=$tag bash hack/kind/images.sh
kind load docker-image --name "$cluster" "hivekeeper/operator:$tag" "hivekeeper/worker:$tag"

kubectl --context "$context" create namespace "$perf" --dry-run=client -o yaml | kubectl --context "$context" apply -f -
# Bundled quick-start RabbitMQ and Redis; the chart writes the hivekeeper-broker Secret into the swarm namespace.
helm upgrade --install hivekeeper helm/hivekeeper --kube-context "$context" \
  --namespace "$system" --create-namespace \
  --set operator.image.tag="$tag" --set workers.image.tag="$tag" \
  --set broker.existingSecret= --set rabbitmq.bundled.enabled=true --set redis.bundled.enabled=true \
  --set workers.secret.create=true --set "workers.secret.namespaces={$perf}" \
  --wait --timeout 5m
kubectl --context "$context" -n "$system" wait deployment --all --for=condition=Available --timeout=180s
kubectl --context "$context" -n "$perf" get secret hivekeeper-broker >/dev/null \
  || { echo "kind-up: the chart did not create the hivekeeper-broker Secret in $perf" >&2; exit 1; }

# The demo SUT answers at http://cards-api.$perf.svc:8080, the quickstart's sut.endpoints.default.
sed "s/:dev$/:$tag/" hack/kind/demo-sut.yaml | kubectl --context "$context" -n "$perf" apply -f -
kubectl --context "$context" -n "$perf" rollout status deployment/cards-api --timeout=120s
kubectl --context "$context" -n "$perf" apply -f examples/quickstart.yaml
kubectl --context "$context" -n "$perf" patch swarm/quickstart --type=merge \
  -p "{\"spec\":{\"sut\":{\"endpoints\":{\"default\":{\"baseUrl\":\"http://cards-api.$perf.svc:8080\"}}}}}"
kubectl --context "$context" -n "$perf" wait swarm/quickstart --for=condition=Ready --timeout=300s
kubectl --context "$context" -n "$perf" get swarms,workerroles
echo "kind-up: done. Watch it: kubectl --context $context -n $perf get sw -w   Remove it: make kind-down"
