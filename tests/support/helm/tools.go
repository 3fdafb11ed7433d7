//go:build tools

// Package tools pins the helm command the chart tests run (helm lint, helm template, helm install).
// Built with the Kubernetes version helm's Makefile would give it (1.37, from client-go v0.37): see
// HELM in tests/support/testbench/gobuild.py.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
