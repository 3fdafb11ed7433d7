// Command kstatus reads one Kubernetes object as JSON on stdin and prints, as JSON, what the GitOps health
// libraries compute for it:
//   - "status", "message", "conditions": kstatus (sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute), the rules
//     behind Flux's default health checks, kpt and cli-utils' apply --wait;
//   - with -flux FILE (a Flux Kustomization carrying spec.healthCheckExprs): "flux", the status Flux's own CEL
//     evaluator (github.com/fluxcd/pkg/runtime/cel) gives the object with the entry of its kind, or "fluxError".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type kustomization struct {
	Spec struct {
		HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs"`
	} `json:"spec"`
}

func main() {
	fluxFile := flag.String("flux", "", "a Flux Kustomization (YAML) whose spec.healthCheckExprs to evaluate too")
	flag.Parse()
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("read stdin", err)
	}
	obj := &unstructured.Unstructured{}
	if err := obj.UnmarshalJSON(raw); err != nil {
		fail("parse the object JSON on stdin", err)
	}
	result, err := status.Compute(obj)
	if err != nil {
		fail("compute the status", err)
	}
	out := map[string]any{"status": result.Status.String(), "message": result.Message, "conditions": result.Conditions}
	if *fluxFile != "" {
		flux, err := evaluateFlux(*fluxFile, obj)
		if err != nil {
			out["fluxError"] = err.Error()
		} else {
			out["flux"] = flux
		}
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail("write the result", err)
	}
}

func evaluateFlux(path string, obj *unstructured.Unstructured) (string, error) {
	text, err := os.ReadFile(path)
	if err != nil {
		fail("read "+path, err)
	}
	var k kustomization
	if err := yaml.Unmarshal(text, &k); err != nil {
		fail("parse "+path, err)
	}
	for _, check := range k.Spec.HealthCheckExprs {
		if check.APIVersion != obj.GetAPIVersion() || check.Kind != obj.GetKind() {
			continue
		}
		evaluator, err := fluxcel.NewStatusEvaluator(&check.HealthCheckExpressions)
		if err != nil {
			fail("compile the expressions for "+check.Kind, err)
		}
		res, err := evaluator.Evaluate(context.Background(), obj)
		if err != nil {
			return "", err
		}
		return res.Status.String(), nil
	}
	fail(path, fmt.Errorf("no healthCheckExprs entry for %s %s", obj.GetAPIVersion(), obj.GetKind()))
	return "", nil
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "kstatus: %s: %v\n", what, err)
	os.Exit(2)
}
