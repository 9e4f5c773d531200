package tests

import (
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/config"
)

// monitoringOn turns monitoring and the ServiceMonitor on, with these ServiceMonitor settings.
func monitoringOn(serviceMonitor map[string]any) map[string]any {
	sm := DeepMerge(map[string]any{"enabled": true}, serviceMonitor)
	return map[string]any{"monitoring": map[string]any{"enabled": true, "serviceMonitor": sm}}
}

func scrapeEndpoint(t *testing.T, r *Render) map[string]any {
	t.Helper()
	return Path(r.Object(t, "ServiceMonitor", "certctl-server").Manifest(), "spec", "endpoints", 0).(map[string]any)
}

func TestServiceMonitor(t *testing.T) {
	t.Run("scrapes the server Service with a generated key, verifying TLS", func(t *testing.T) {
		r := RenderMode(t, "ha-monitoring")
		sm := r.Object(t, "ServiceMonitor", "certctl-server").Manifest()
		assert.Equal(t, "kube-prometheus", Path(sm, "metadata", "labels", "release"), "the serviceMonitorSelector's label")
		svcLabels := Path(r.Object(t, "Service", "certctl-server").Manifest(), "metadata", "labels").(map[string]any)
		for k, v := range Path(sm, "spec", "selector", "matchLabels").(map[string]any) {
			assert.Equal(t, v, svcLabels[k], "the ServiceMonitor selects the server Service by %s", k)
		}
		ep := scrapeEndpoint(t, r)
		def := config.Defaults().Monitoring.ServiceMonitor
		assert.Equal(t, map[string]any{
			"port": "https", "scheme": "https", "path": "/api/v1/metrics/prometheus", "interval": def.Interval, "scrapeTimeout": def.ScrapeTimeout,
			"authorization": map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "certctl-metrics", "key": "api-key"}},
			"tlsConfig": map[string]any{
				"ca":         map[string]any{"secret": map[string]any{"name": "certctl-tls", "key": "ca.crt"}},
				"serverName": "certctl-server",
			},
		}, ep)

		metrics := r.Object(t, "Secret", "certctl-metrics")
		assert.Equal(t, "GENERATED-certctl-scrape-key", r.Secret(t, "certctl-metrics").StringData["api-key"])
		assert.True(t, metrics.secretAt("stringData", "api-key"))
		named := r.Secret(t, "certctl-server").StringData["api-keys-named"]
		assert.Contains(t, strings.Split(named, ","), "prometheus:GENERATED-certctl-scrape-key",
			"the server accepts the scrape key under the name prometheus")
	})

	t.Run("a given scrape key stays secret and is used as given", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), monitoringOn(map[string]any{"scrapeKey": "given-scrape-key"})), "monitoring"))
		assert.Equal(t, "given-scrape-key", r.Secret(t, "certctl-metrics").StringData["api-key"])
		assert.True(t, r.Object(t, "Secret", "certctl-metrics").secretAt("stringData", "api-key"))
		generated := passwordNames(t, mustRun(t, withConfig(t, DeepMerge(base(), monitoringOn(nil)))))
		require.Contains(t, generated, "certctl-scrape-key")
		assert.ElementsMatch(t, without(generated, "certctl-scrape-key"), passwordNames(t, r), "a given key must not be generated")
	})

	t.Run("the user's own Secret replaces the generated key", func(t *testing.T) {
		r := mustRun(t, withConfig(t, DeepMerge(base(), monitoringOn(map[string]any{
			"bearerTokenSecret": map[string]any{"name": "prometheus-certctl", "key": "token"},
		}))))
		generated := mustRun(t, withConfig(t, DeepMerge(base(), monitoringOn(nil)))).ObjectSet()
		require.Contains(t, generated, "Secret/certctl-metrics")
		assert.Equal(t, without(generated, "Secret/certctl-metrics"), r.ObjectSet(), "the generated key's Secret, and only it, is gone")
		assert.Equal(t, map[string]any{"name": "prometheus-certctl", "key": "token"}, Path(scrapeEndpoint(t, r), "authorization", "credentials"))
		assert.NotContains(t, r.Secret(t, "certctl-server").StringData["api-keys-named"], "prometheus:",
			"the user's key is theirs to register (server.auth.namedKeys)")
	})

	t.Run("TLS: the user's CA, a CA file, or no verification when asked", func(t *testing.T) {
		for name, c := range map[string]struct {
			tlsConfig map[string]any
			want      map[string]any
		}{
			"CA Secret": {
				map[string]any{"ca": map[string]any{"name": "corp-ca", "key": "root.pem"}, "serverName": "certctl.example.com"},
				map[string]any{"ca": map[string]any{"secret": map[string]any{"name": "corp-ca", "key": "root.pem"}}, "serverName": "certctl.example.com"},
			},
			"CA file": {
				map[string]any{"caFile": "/etc/prometheus/certs/ca.crt"},
				map[string]any{"caFile": "/etc/prometheus/certs/ca.crt", "serverName": "certctl-server"},
			},
			"insecure": {
				map[string]any{"insecureSkipVerify": true},
				map[string]any{"insecureSkipVerify": true},
			},
		} {
			t.Run(name, func(t *testing.T) {
				r := mustRun(t, withConfig(t, DeepMerge(base(), monitoringOn(map[string]any{"tlsConfig": c.tlsConfig}))))
				assert.Equal(t, c.want, scrapeEndpoint(t, r)["tlsConfig"])
			})
		}
	})
}

// rulesAndDashboardOn turns on the rules and the dashboard in any mode.
var rulesAndDashboardOn = map[string]any{"monitoring": map[string]any{
	"enabled": true, "prometheusRules": map[string]any{"enabled": true}, "grafanaDashboard": map[string]any{"enabled": true},
}}

func TestPrometheusRule(t *testing.T) {
	r := renderModeWith(t, "prometheus-rules", map[string]any{"monitoring": map[string]any{"prometheusRules": map[string]any{
		"labels":     map[string]any{"release": "kube-prometheus"},
		"interval":   "30s",
		"runbookURL": "https://wiki.example.com/certctl",
		"thresholds": map[string]any{"offlineAgentCount": 3, "offlineAgentFor": "30m"},
	}}})
	require.Contains(t, RenderMode(t, "ha-monitoring").ObjectSet(), "ServiceMonitor/certctl-server")
	assert.NotContains(t, r.ObjectSet(), "ServiceMonitor/certctl-server", "rules and scraping are enabled separately")
	pr := r.Object(t, "PrometheusRule", "certctl-rules").Manifest()
	assert.Equal(t, "kube-prometheus", Path(pr, "metadata", "labels", "release"), "the ruleSelector's label")
	group := Path(pr, "spec", "groups", 0).(map[string]any)
	assert.Equal(t, "30s", group["interval"])

	var names []string
	for _, raw := range group["rules"].([]any) {
		rule := raw.(map[string]any)
		name := rule["alert"].(string)
		names = append(names, name)
		assert.Equal(t, "https://wiki.example.com/certctl#"+strings.ToLower(name), Path(rule, "annotations", "runbook_url"))
		assert.Equal(t, "warning", Path(rule, "labels", "severity"))
		if name == "CertctlAgentOffline" {
			assert.Equal(t, "(max by (namespace, job) (certctl_agent_total) - max by (namespace, job) (certctl_agent_online)) > 3", rule["expr"])
			assert.Equal(t, "30m", rule["for"])
			assert.Contains(t, Path(rule, "annotations", "description"), "alert above 3 for 30m")
		}
	}
	certctlAlerts := []string{"CertctlCertificateExpiringSoon", "CertctlAgentOffline", "CertctlJobFailureRateHigh", "CertctlIssuanceFailures"}
	assert.Equal(t, append(slices.Clone(certctlAlerts), "CertctlDatabaseVolumeFilling"), names)
	external := RenderedAlerts(t, renderModeWith(t, "external-db", rulesAndDashboardOn))
	assert.ElementsMatch(t, certctlAlerts, slices.Collect(maps.Keys(external)), "an external database's volume is not the program's to watch")

	raw, err := os.ReadFile("../docs/runbooks/alerts.md")
	require.NoError(t, err)
	runbook := string(raw)
	for _, name := range names {
		require.Contains(t, runbook, "\n## "+name+"\n", "the default runbook_url's anchor #%s must exist", strings.ToLower(name))
	}
}

func TestGrafanaDashboard(t *testing.T) {
	r := RenderMode(t, "ha-monitoring")
	assert.Equal(t, "1", Path(r.Object(t, "ConfigMap", "certctl-dashboard").Manifest(), "metadata", "labels", "grafana_dashboard"),
		"the label Grafana's dashboard sidecar watches by default")
	queries := DashboardQueries(t, r)
	for _, panel := range []string{"Certificates by state", "Certificates expiring within 30 days", "Agents", "Agents offline",
		"Jobs finished per hour", "Job failure share (15m)", "Issuance failures per second", "Database volume"} {
		assert.NotEmpty(t, queries[panel], "panel %q", panel)
	}
	assert.Equal(t, []string{
		`max by (persistentvolumeclaim) (kubelet_volume_stats_used_bytes{namespace="certctl", persistentvolumeclaim=~"data-certctl-postgres-0"})`,
		`max by (persistentvolumeclaim) (kubelet_volume_stats_capacity_bytes{namespace="certctl", persistentvolumeclaim=~"data-certctl-postgres-0"})`,
	}, queries["Database volume"], "the bundled database's claim, in the release's namespace")
	external := DashboardQueries(t, renderModeWith(t, "external-db", rulesAndDashboardOn))
	assert.NotContains(t, external, "Database volume", "an external database's volume is not the program's to show")
	assert.Contains(t, external, "Agents")
	for title, exprs := range queries {
		for _, e := range exprs {
			_, err := parser.ParseExpr(e)
			require.NoError(t, err, "panel %q: %q", title, e)
		}
	}

	relabelled := renderModeWith(t, "ha-monitoring", map[string]any{"monitoring": map[string]any{
		"grafanaDashboard": map[string]any{"labels": map[string]any{"dashboards": "platform"}},
	}})
	labels := Path(relabelled.Object(t, "ConfigMap", "certctl-dashboard").Manifest(), "metadata", "labels").(map[string]any)
	assert.Equal(t, "platform", labels["dashboards"])
	assert.Equal(t, "1", labels["grafana_dashboard"], "config maps merge over the defaults: the default label stays (harmless to a sidecar watching another)")
	assert.NotContains(t, RenderMode(t, "prometheus-rules").ObjectSet(), "ConfigMap/certctl-dashboard", "the dashboard is opt-in")
}
