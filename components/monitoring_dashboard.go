package components

import (
	"encoding/json"
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// dashboardPanel is one Grafana panel: a stat or a time series of PromQL queries, by legend.
type dashboardPanel struct {
	title, kind, unit string
	queries           [][2]string // legend, expr
}

// dashboardPanels read certctl v2.1.7's metrics. The certificate, agent and job metrics are
// database snapshots every replica reports alike, so they are taken once per installation
// (perInstallation); issuance failures are per process, so they are summed. With a database
// volume to watch, the last panel is its use (kubelet volume stats): the audit trail only grows.
func dashboardPanels(a *MonitoringArgs) []dashboardPanel {
	sentinels := a.Server.SentinelAgents
	panels := []dashboardPanel{
		{title: "Certificates expiring within 30 days", kind: "stat", queries: [][2]string{{"expiring", perInstallation("certctl_certificate_expiring_soon")}}},
		{title: "Agents offline", kind: "stat", queries: [][2]string{{"offline", agentsOffline(sentinels)}}},
		{title: "Jobs pending", kind: "stat", queries: [][2]string{{"pending", perInstallation("certctl_job_pending")}}},
		{title: "Certificates by state", kind: "timeseries", queries: [][2]string{
			{"active", perInstallation("certctl_certificate_active")},
			{"expiring within 30 days", perInstallation("certctl_certificate_expiring_soon")},
			{"expired", perInstallation("certctl_certificate_expired")},
			{"revoked", perInstallation("certctl_certificate_revoked")},
		}},
		{title: "Agents", kind: "timeseries", queries: [][2]string{
			{"online", perInstallation("certctl_agent_online")},
			{"offline", agentsOffline(sentinels)},
		}},
		{title: "Jobs finished per hour", kind: "timeseries", queries: [][2]string{
			{"completed", perInstallation("increase(certctl_job_completed_total[1h])")},
			{"failed", perInstallation("increase(certctl_job_failed_total[1h])")},
		}},
		{title: "Job failure share (15m)", kind: "timeseries", unit: "percentunit", queries: [][2]string{
			{"failed", jobFailureShare},
		}},
		{title: "Issuance failures per second", kind: "timeseries", queries: [][2]string{
			{"{{issuer_type}} {{error_class}}", "sum by (issuer_type, error_class) (rate(certctl_issuance_failures_total[15m]))"},
		}},
	}
	if a.DatabaseClaims != "" {
		claim := func(metric string) string {
			return fmt.Sprintf(`max by (persistentvolumeclaim) (%s{namespace=%q, persistentvolumeclaim=~%q})`, metric, a.Namespace, a.DatabaseClaims)
		}
		panels = append(panels, dashboardPanel{title: "Database volume", kind: "timeseries", unit: "bytes", queries: [][2]string{
			{"{{persistentvolumeclaim}} used", claim("kubelet_volume_stats_used_bytes")},
			{"{{persistentvolumeclaim}} capacity", claim("kubelet_volume_stats_capacity_bytes")},
		}})
	}
	return panels
}

// dashboardJSON is the Grafana dashboard model: stats on the first row, time series two per row
// below, every query on the data source chosen in the dashboard's variable.
func dashboardJSON(uid, title string, panelsShown []dashboardPanel) (string, error) {
	datasource := map[string]any{"type": "prometheus", "uid": "${datasource}"}
	var panels []map[string]any
	stats, charts := 0, 0
	for i, p := range panelsShown {
		grid := map[string]int{"h": 4, "w": 8, "x": 8 * stats, "y": 0}
		if p.kind == "stat" {
			stats++
		} else {
			grid = map[string]int{"h": 8, "w": 12, "x": 12 * (charts % 2), "y": 4 + 8*(charts/2)}
			charts++
		}
		var targets []map[string]any
		for j, q := range p.queries {
			targets = append(targets, map[string]any{
				"refId": string(rune('A' + j)), "expr": q[1], "legendFormat": q[0], "datasource": datasource,
			})
		}
		panel := map[string]any{"id": i + 1, "type": p.kind, "title": p.title, "gridPos": grid, "datasource": datasource, "targets": targets}
		if p.unit != "" {
			panel["fieldConfig"] = map[string]any{"defaults": map[string]any{"unit": p.unit}, "overrides": []any{}}
		}
		panels = append(panels, panel)
	}
	out, err := json.MarshalIndent(map[string]any{
		"uid": uid, "title": title, "schemaVersion": 39, "editable": false, "refresh": "1m",
		"time": map[string]string{"from": "now-24h", "to": "now"},
		"templating": map[string]any{"list": []any{map[string]any{
			"name": "datasource", "label": "Data source", "type": "datasource", "query": "prometheus",
		}}},
		"panels": panels,
	}, "", "  ")
	return string(out), err
}

// dashboardConfigMapArgs is the dashboard for Grafana's sidecar, which finds it by its labels.
func dashboardConfigMapArgs(a *MonitoringArgs) (*corev1.ConfigMapArgs, error) {
	// Grafana's uid holds at most 40 characters.
	uid := a.Names.Dashboard[:min(len(a.Names.Dashboard), 40)]
	dashboard, err := dashboardJSON(uid, "certctl ("+a.Names.Fullname+")", dashboardPanels(a))
	if err != nil {
		return nil, err
	}
	return &corev1.ConfigMapArgs{
		Metadata: metaWithLabels(a.Release.objectMeta(a.Names.Dashboard, componentMonitoring, nil), a.Release, componentMonitoring, a.Monitoring.GrafanaDashboard.Labels),
		// The sidecar writes each key as a file into one folder: the key is unique per release.
		Data: pulumi.StringMap{a.Names.Dashboard + ".json": pulumi.String(dashboard)},
	}, nil
}
