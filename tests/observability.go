package tests

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// RenderedAlert is one rule of the rendered PrometheusRule, as Prometheus reads it.
type RenderedAlert struct {
	Name, Expr string
	Hold       time.Duration
}

// RenderedAlerts are the rules of the render's PrometheusRule by alert name, with their `for`.
func RenderedAlerts(t *testing.T, r *Render) map[string]RenderedAlert {
	t.Helper()
	pr := r.Object(t, "PrometheusRule", "certctl-rules").Manifest()
	alerts := map[string]RenderedAlert{}
	for _, raw := range Path(pr, "spec", "groups", 0, "rules").([]any) {
		rule := raw.(map[string]any)
		hold, err := model.ParseDuration(rule["for"].(string))
		require.NoError(t, err, "for of %v", rule["alert"])
		a := RenderedAlert{Name: rule["alert"].(string), Expr: rule["expr"].(string), Hold: time.Duration(hold)}
		alerts[a.Name] = a
	}
	return alerts
}

// DashboardQueries are the PromQL expressions of the rendered Grafana dashboard, by panel title.
func DashboardQueries(t *testing.T, r *Render) map[string][]string {
	t.Helper()
	raw, ok := r.ConfigMap(t, "certctl-dashboard").Data["certctl-dashboard.json"]
	require.True(t, ok, "the dashboard is the ConfigMap key certctl-dashboard.json")
	var dashboard struct {
		UID    string
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &dashboard))
	assert.Equal(t, "certctl-dashboard", dashboard.UID)
	queries := map[string][]string{}
	for _, p := range dashboard.Panels {
		for _, target := range p.Targets {
			queries[p.Title] = append(queries[p.Title], target.Expr)
		}
	}
	return queries
}
