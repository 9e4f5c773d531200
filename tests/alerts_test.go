package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// replicas is one series per server replica of one installation, as a ServiceMonitor scrapes them.
func replicas(n int, metric, values string) string {
	var lines []string
	for i := range n {
		lines = append(lines, fmt.Sprintf(`%s{namespace="certctl",job="certctl-server",instance="10.0.0.%d:8443"} %s`, metric, i+1, values))
	}
	return strings.Join(lines, "\n")
}

// databaseVolume is the kubelet's statistics of a namespace's claim data-certctl-postgres-0 of
// 100 GB, with the available bytes given.
func databaseVolume(namespace, available string) string {
	labels := fmt.Sprintf(`{namespace=%q,persistentvolumeclaim="data-certctl-postgres-0",node="node-1"}`, namespace)
	return "kubelet_volume_stats_available_bytes" + labels + " " + available + "\nkubelet_volume_stats_capacity_bytes" + labels + " 100e9x120"
}

// firingMinutes evaluates an alert once a minute over series (promqltest "load 1m" syntax) for the
// given minutes, as a Prometheus rule group would, and reports at which minutes it was firing and
// the most alerts firing at once.
func firingMinutes(t *testing.T, a RenderedAlert, series string, minutes int) (firing []int, most int) {
	t.Helper()
	expr, err := parser.ParseExpr(a.Expr)
	require.NoError(t, err, "%s: expr %q", a.Name, a.Expr)
	storage := promqltest.LoadedStorage(t, "load 1m\n"+series)
	t.Cleanup(func() { storage.Close() })
	engine := promqltest.NewTestEngine(t, false, 5*time.Minute, 1_000_000)
	rule := rules.NewAlertingRule(a.Name, expr, a.Hold, 0, labels.EmptyLabels(), labels.EmptyLabels(), labels.EmptyLabels(), "", true, nil)
	query := rules.EngineQueryFunc(engine, storage)
	for m := 0; m <= minutes; m++ {
		_, err := rule.Eval(context.Background(), 0, time.Unix(0, 0).Add(time.Duration(m)*time.Minute), query, nil, 0)
		require.NoError(t, err, "%s at minute %d", a.Name, m)
		now := 0
		for _, alert := range rule.ActiveAlerts() {
			if alert.State == rules.StateFiring {
				now++
			}
		}
		if now > 0 {
			firing = append(firing, m)
		}
		most = max(most, now)
	}
	return firing, most
}

// TestAlertsFireAfterTheirForAndOnlyThen runs the rendered rules in Prometheus' own rule engine over
// metric histories shaped like what certctl v2.1.7 exports (see the live suite's scrape check).
func TestAlertsFireAfterTheirForAndOnlyThen(t *testing.T) {
	defaults := RenderedAlerts(t, renderModeWith(t, "prometheus-rules", nil))
	require.Len(t, defaults, 5)
	custom := RenderedAlerts(t, renderModeWith(t, "prometheus-rules", map[string]any{"monitoring": map[string]any{
		"prometheusRules": map[string]any{"thresholds": map[string]any{
			"offlineAgentCount": 2, "offlineAgentFor": "10m", "jobFailureRate": 0.5, "expiringCertificateCount": 10,
		}},
	}}))
	// The network scanner registers a sentinel agent that never heartbeats (certctl v2.1.7).
	scanning := RenderedAlerts(t, renderModeWith(t, "prometheus-rules", map[string]any{
		"server": map[string]any{"networkScan": map[string]any{"enabled": true}},
	}))

	cases := []struct {
		name    string
		alert   RenderedAlert
		series  string
		minutes int
		onset   int // first minute the condition holds; -1: never
		alerts  int // alerts firing at once; 0 means 1
	}{
		{"no certificate expiring", defaults["CertctlCertificateExpiringSoon"], "certctl_certificate_expiring_soon 0x60", 60, -1, 0},
		{"certificates expiring", defaults["CertctlCertificateExpiringSoon"], "certctl_certificate_expiring_soon 0x10 3x50", 60, 11, 0},
		{"expiring below a raised threshold", custom["CertctlCertificateExpiringSoon"], "certctl_certificate_expiring_soon 10x60", 60, -1, 0},
		{"all agents online", defaults["CertctlAgentOffline"],
			"certctl_agent_total 5x120\ncertctl_agent_online 5x120", 120, -1, 0},
		{"an agent offline", defaults["CertctlAgentOffline"],
			"certctl_agent_total 5x120\ncertctl_agent_online 5x10 4x110", 120, 11, 0},
		{"an agent offline under a raised threshold", custom["CertctlAgentOffline"],
			"certctl_agent_total 5x60\ncertctl_agent_online 4x60", 60, -1, 0},
		{"three agents offline over a raised threshold", custom["CertctlAgentOffline"],
			"certctl_agent_total 5x60\ncertctl_agent_online 5x10 2x50", 60, 11, 0},
		{"the network scanner's sentinel, never heartbeating", scanning["CertctlAgentOffline"],
			"certctl_agent_total 6x120\ncertctl_agent_online 5x120", 120, -1, 0},
		{"an agent offline beside the sentinel", scanning["CertctlAgentOffline"],
			"certctl_agent_total 6x120\ncertctl_agent_online 5x10 4x110", 120, 11, 0},
		{"no jobs at all", defaults["CertctlJobFailureRateHigh"],
			"certctl_job_completed_total 0x60\ncertctl_job_failed_total 0x60", 60, -1, 0},
		{"1% of jobs failing", defaults["CertctlJobFailureRateHigh"],
			"certctl_job_completed_total 0+99x60\ncertctl_job_failed_total 0+1x60", 60, -1, 0},
		{"10% of jobs failing", defaults["CertctlJobFailureRateHigh"],
			"certctl_job_completed_total 0+90x60\ncertctl_job_failed_total 0+10x60", 60, 1, 0},
		{"10% of jobs failing under a raised threshold", custom["CertctlJobFailureRateHigh"],
			"certctl_job_completed_total 0+90x60\ncertctl_job_failed_total 0+10x60", 60, -1, 0},
		{"no issuance failure yet (series absent)", defaults["CertctlIssuanceFailures"],
			"certctl_job_completed_total 0+1x60", 60, -1, 0},
		{"issuance failures stopped", defaults["CertctlIssuanceFailures"],
			`certctl_issuance_failures_total{issuer_type="acme",error_class="auth"} 7x90`, 90, -1, 0},
		{"issuance failing", defaults["CertctlIssuanceFailures"],
			`certctl_issuance_failures_total{issuer_type="acme",error_class="auth"} 0x10 1+1x50`, 60, 11, 0},
		// Every replica reports the database's numbers: one alert per installation, not per replica.
		{"three replicas, certificates expiring", defaults["CertctlCertificateExpiringSoon"], replicas(3, "certctl_certificate_expiring_soon", "0x10 3x50"), 60, 11, 1},
		{"three replicas, an agent offline", defaults["CertctlAgentOffline"],
			replicas(3, "certctl_agent_total", "5x120") + "\n" + replicas(3, "certctl_agent_online", "5x10 4x110"), 120, 11, 1},
		{"three replicas, 10% of jobs failing", defaults["CertctlJobFailureRateHigh"],
			replicas(3, "certctl_job_completed_total", "0+90x60") + "\n" + replicas(3, "certctl_job_failed_total", "0+10x60"), 60, 1, 1},
		// The kubelet's statistics of the bundled database's claim (capacity 100 GB).
		{"database volume half free", defaults["CertctlDatabaseVolumeFilling"], databaseVolume("certctl", "50e9x120"), 120, -1, 0},
		{"database volume below 15% free", defaults["CertctlDatabaseVolumeFilling"], databaseVolume("certctl", "50e9x10 10e9x110"), 120, 11, 0},
		{"database volume full in 3 days", defaults["CertctlDatabaseVolumeFilling"], databaseVolume("certctl", "80e9-18518518x120"), 120, 1, 0},
		{"database volume full in 60 days", defaults["CertctlDatabaseVolumeFilling"], databaseVolume("certctl", "80e9-925926x120"), 120, -1, 0},
		{"another namespace's database volume full", defaults["CertctlDatabaseVolumeFilling"], databaseVolume("other", "1x120"), 120, -1, 0},
		{"two installations, both expiring", defaults["CertctlCertificateExpiringSoon"],
			"certctl_certificate_expiring_soon{namespace=\"a\",job=\"certctl-server\"} 2x30\ncertctl_certificate_expiring_soon{namespace=\"b\",job=\"certctl-server\"} 4x30", 30, 0, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			firing, most := firingMinutes(t, c.alert, c.series, c.minutes)
			if c.onset < 0 {
				require.Empty(t, firing, "%s must stay silent (expr %q)", c.alert.Name, c.alert.Expr)
				return
			}
			holdMinutes := int(c.alert.Hold / time.Minute)
			require.Greater(t, c.minutes, c.onset+holdMinutes, "the history must outlast the for")
			want := []int{}
			for m := c.onset + holdMinutes; m <= c.minutes; m++ {
				want = append(want, m)
			}
			assert.Equal(t, max(c.alerts, 1), most, "%s: alerts firing at once", c.alert.Name)
			require.Equal(t, fmt.Sprint(want), fmt.Sprint(firing),
				"%s (expr %q, for %s) must fire from minute %d on, %s after the condition starts, and not before",
				c.alert.Name, c.alert.Expr, c.alert.Hold, c.onset+holdMinutes, c.alert.Hold)
		})
	}
}
