package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestStacksRunClean: every stack file in the repo deploys under mocks as-is.
func TestStacksRunClean(t *testing.T) {
	for _, stack := range []string{"local", "dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := mustRun(t, loadStack(t, stack))
			assert.NotEmpty(t, r.KubernetesObjects())
			assert.Contains(t, r.ObjectSet(), "Deployment/"+r.Outputs["serverServiceName"].Value.(string))
		})
	}
}
