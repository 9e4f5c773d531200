package live

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
)

// metricsOnlyAfterAFailure are the metrics the rules use that certctl v2.1.7 exports only once
// something has happened: certctl_issuance_failures_total appears with the first failed issuance.
var metricsOnlyAfterAFailure = map[string]bool{"certctl_issuance_failures_total": true}

// checkScrape scrapes the servers the way the Prometheus Operator configures Prometheus from the
// rendered ServiceMonitor: its port, scheme and path, the credentials of its authorization Secret,
// and its tlsConfig (CA Secret and serverName) verifying the server certificate. Every metric the
// rendered alerts and dashboard use must be in what certctl exports.
func (d *liveDeployment) checkScrape(t *testing.T) {
	t.Helper()
	sm, ok := d.object("ServiceMonitor", "certctl-server")
	require.True(t, ok, "the mode renders a ServiceMonitor")
	endpoint := tests.Path(sm, "spec", "endpoints", 0).(map[string]any)
	require.Equal(t, "https", endpoint["scheme"])

	creds := tests.Path(endpoint, "authorization", "credentials").(map[string]any)
	scrapeKey := d.secretValue(t, creds["name"].(string), creds["key"].(string))
	caRef := tests.Path(endpoint, "tlsConfig", "ca", "secret").(map[string]any)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM([]byte(d.secretValue(t, caRef["name"].(string), caRef["key"].(string)))),
		"the ServiceMonitor's CA Secret holds a PEM certificate")
	scraper := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext: d.cluster.DialContext,
			TLSClientConfig: &tls.Config{
				RootCAs: roots, ServerName: tests.Path(endpoint, "tlsConfig", "serverName").(string), MinVersion: tls.VersionTLS12,
			},
		},
	}
	url := fmt.Sprintf("https://certctl-server:%d%s", d.servicePort(t, endpoint["port"].(string)), endpoint["path"])

	// Through the Service, a few times: the Service picks a replica per connection.
	for i := 0; i < 2*len(d.servers); i++ {
		req, err := http.NewRequestWithContext(context.Background(), "GET", url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", tests.Path(endpoint, "authorization", "type").(string)+" "+scrapeKey)
		resp, err := scraper.Do(req)
		require.NoError(t, err, "scrape %s with the ServiceMonitor's TLS settings", url)
		families, parseErr := new(expfmt.TextParser).TextToMetricFamilies(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "scrape %s with the ServiceMonitor's key", url)
		require.NoError(t, parseErr, "the scrape is Prometheus text exposition")
		for _, name := range d.queriedMetricNames(t) {
			// The database volume's statistics are the kubelet's (its /metrics, which the kubelet
			// ServiceMonitor of kube-prometheus-stack scrapes), not certctl's.
			if metricsOnlyAfterAFailure[name] || strings.HasPrefix(name, "kubelet_volume_stats_") {
				continue
			}
			assert.Contains(t, families, name, "a rendered alert or dashboard panel uses %s: certctl must export it", name)
		}
	}

	// The server hook narrows the r-viewer every boot grants to a role holding metrics.read alone.
	me := d.me(t, scrapeKey)
	assert.Len(t, me.Roles, 1, "the scrape key holds one role: %v", me.Roles)
	var perms []string
	for _, p := range me.EffectivePermissions {
		perms = append(perms, p.Permission+"@"+p.ScopeType)
	}
	assert.Equal(t, []string{"metrics.read@global"}, perms, "the scrape key scrapes, and does nothing else")
	for _, route := range []string{"/api/v1/certificates", "/api/v1/agents", "/api/v1/audit", "/api/v1/issuers", "/api/v1/jobs"} {
		status, _ := d.call(t, "GET", route, scrapeKey, nil)
		assert.Equal(t, http.StatusForbidden, status, "the scrape key cannot read %s", route)
	}
	status, _ := d.call(t, "POST", "/api/v1/agent-groups", scrapeKey, map[string]any{"name": "scrape-key-writes"})
	assert.Equal(t, http.StatusForbidden, status, "the scrape key cannot write")
}

// queriedMetricNames are the metric names in the rendered alerts' and dashboard's expressions.
func (d *liveDeployment) queriedMetricNames(t *testing.T) []string {
	t.Helper()
	var exprs []string
	for _, a := range tests.RenderedAlerts(t, d.render) {
		exprs = append(exprs, a.Expr)
	}
	if _, ok := d.object("ConfigMap", "certctl-dashboard"); ok {
		for _, panel := range tests.DashboardQueries(t, d.render) {
			exprs = append(exprs, panel...)
		}
	}
	var names []string
	for _, e := range exprs {
		expr, err := parser.ParseExpr(e)
		require.NoError(t, err)
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			if vs, ok := node.(*parser.VectorSelector); ok {
				names = append(names, vs.Name)
			}
			return nil
		})
	}
	return names
}

// secretValue is one key of a Secret the cluster holds: rendered, or created for the mode.
func (d *liveDeployment) secretValue(t *testing.T, name, key string) string {
	t.Helper()
	for _, o := range d.objects {
		if o["kind"] != "Secret" || tests.Path(o, "metadata", "name") != name {
			continue
		}
		if v, ok := tests.Path(o, "stringData", key).(string); ok {
			return v
		}
		if v, ok := tests.Path(o, "data", key).(string); ok {
			b, err := base64.StdEncoding.DecodeString(v)
			require.NoError(t, err)
			return string(b)
		}
	}
	t.Fatalf("no Secret %s with key %s in the cluster", name, key)
	return ""
}

// servicePort is the server Service's port of that name.
func (d *liveDeployment) servicePort(t *testing.T, name string) int32 {
	t.Helper()
	for _, port := range d.render.Service(t, "certctl-server").Spec.Ports {
		if port.Name == name {
			return port.Port
		}
	}
	t.Fatalf("the server Service has no port %q", name)
	return 0
}
