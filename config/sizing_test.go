package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/resource"
)

// TestSizingTableIsTheTiers: every row of docs/sizing.md's table states what Sized gives each
// tier, so the document cannot drift from the defaults.
func TestSizingTableIsTheTiers(t *testing.T) {
	raw, err := os.ReadFile("../docs/sizing.md")
	require.NoError(t, err)
	pair := func(r map[string]string) string { return r["cpu"] + ", " + r["memory"] }
	rows := map[string]func(c Config) string{
		"`server.replicas`":                                   func(c Config) string { return fmt.Sprint(c.Server.Replicas) },
		"`server.resources` requests":                         func(c Config) string { return pair(c.Server.Resources.Requests) },
		"`server.resources` limits":                           func(c Config) string { return pair(c.Server.Resources.Limits) },
		"`server.databaseMaxConns` (per pod)":                 func(c Config) string { return fmt.Sprint(c.Server.DatabaseMaxConns) },
		"`postgresql.resources` requests":                     func(c Config) string { return pair(c.PostgreSQL.Resources.Requests) },
		"`postgresql.resources` limits":                       func(c Config) string { return pair(c.PostgreSQL.Resources.Limits) },
		"`postgresql.storage.size`":                           func(c Config) string { return c.PostgreSQL.Storage.Size },
		"`agent.updateStrategy.rollingUpdate.maxUnavailable`": func(c Config) string { return c.Agent.UpdateStrategy.RollingUpdate.MaxUnavailable.String() },
		"`agent.rolloutTimeout`":                              func(c Config) string { return c.Agent.RolloutTimeout },
		"`server.rateLimiting` (per client address, per replica)": func(c Config) string {
			return fmt.Sprintf("%d rps, burst %d", c.Server.RateLimiting.RPS, c.Server.RateLimiting.Burst)
		},
		"`postgresql.postgresqlConfig`": func(c Config) string {
			if len(c.PostgreSQL.PostgresqlConfig) == 0 {
				return "(Postgres defaults: `max_connections` 100)"
			}
			return fmt.Sprintf("`max_connections: %s`, `shared_buffers: %s`", c.PostgreSQL.PostgresqlConfig["max_connections"], c.PostgreSQL.PostgresqlConfig["shared_buffers"])
		},
	}
	seen := map[string]bool{}
	for _, line := range regexp.MustCompile(`(?m)^\| (.+) \|$`).FindAllStringSubmatch(string(raw), -1) {
		cells := strings.Split(line[1], " | ")
		value, ok := rows[cells[0]]
		if !ok {
			continue
		}
		require.Len(t, cells, 4, "row %s: a cell per tier", cells[0])
		seen[cells[0]] = true
		for i, tier := range fleetSizes {
			stated := strings.ReplaceAll(cells[i+1], " CPU", "") // "500m CPU, 512Mi" is cpu, memory
			assert.Equal(t, value(Sized(tier)), stated, "docs/sizing.md: %s for %s", cells[0], tier)
		}
	}
	for row := range rows {
		assert.True(t, seen[row], "docs/sizing.md has a row for %s", row)
	}
}

// TestTiersHoldTheirAuditHorizon: each tier's volume holds AuditHorizonDays of its whole fleet's
// audit trail at the measured growth before the volume alert's default free share is reached.
func TestTiersHoldTheirAuditHorizon(t *testing.T) {
	for _, tier := range fleetSizes {
		c := Sized(tier)
		size, err := resource.ParseQuantity(c.PostgreSQL.Storage.Size)
		require.NoError(t, err, tier)
		usable := float64(size.Value()) * (1 - c.Monitoring.PrometheusRules.Thresholds.DatabaseVolumeFreeRatio)
		audit := float64(FleetOf(tier).Agents) * AuditMiBPerAgentDay * (1 << 20) * AuditHorizonDays
		assert.GreaterOrEqual(t, usable, audit, "%s: %s holds %d days of %d agents' audit trail", tier, c.PostgreSQL.Storage.Size, AuditHorizonDays, FleetOf(tier).Agents)
		// Not wildly more: the default should not cost twice what the horizon needs.
		assert.Less(t, usable, 2*audit, "%s: %s is far above %d days of audit trail", tier, c.PostgreSQL.Storage.Size, AuditHorizonDays)
	}
}
