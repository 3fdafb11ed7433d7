//go:build tools

// Package tools pins kube-score, the outside linter whose probe, resource and security checks the operator's
// worker Deployments must pass (tests/integration/test_outside_linter.py).
package tools

import _ "github.com/zegl/kube-score/cmd/kube-score"
