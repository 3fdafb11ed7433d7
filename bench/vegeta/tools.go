//go:build tools

// Package tools pins vegeta, the Go load generator the benchmark compares against.
package tools

import _ "github.com/tsenart/vegeta/v12"
