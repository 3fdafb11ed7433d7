#!/usr/bin/env bash
# `make kind-down`: delete the kind cluster of `make kind-up` (KIND_CLUSTER, default hivekeeper).
set -euo pipefail
cluster=${KIND_CLUSTER:-hivekeeper}
command -v kind >/dev/null 2>&1 || { echo "kind-down: kind is not installed (\`go install sigs.k8s.io/kind@v0.33.0\`)" >&2; exit 1; }
kind delete cluster --name "$cluster"
