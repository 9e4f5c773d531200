package config

import "k8s.io/apimachinery/pkg/util/intstr"

// Fleet sizes: the chart's fleet-size ladder (certificates / agents). docs/sizing.md states every
// number below and what it rests on.
const (
	FleetSmall  = "small"  // <= 500 certificates / 100 agents: the chart's defaults, upstream-validated
	FleetMedium = "medium" // <= 5,000 certificates / 1,000 agents
	FleetLarge  = "large"  // <= 50,000 certificates / 10,000 agents
)

var fleetSizes = []string{FleetSmall, FleetMedium, FleetLarge}

// What the tiers' storage rests on (docs/sizing.md, measured by make bench-server into
// docs/bench-server.md): certctl v2.1.7 audits every agent request and never purges the trail.
const (
	// AuditMiBPerAgentDay is the audit trail's growth per agent per day (table and indexes):
	// the medium and large tiers' measured figures (2.4 to 2.74) rounded up. The small tier's
	// few rows overstate it by the granularity of its eight indexes' 8 KiB pages.
	AuditMiBPerAgentDay = 2.8
	// AuditHorizonDays is how many days of the whole fleet's audit trail each tier's volume
	// holds before CertctlDatabaseVolumeFilling fires at its default free share.
	AuditHorizonDays = 30
)

// Fleet is the most a fleet size is sized for.
type Fleet struct {
	Certificates, Agents int
}

// FleetOf is the fleet a fleet size is sized for (the small one for an unknown size).
func FleetOf(fleetSize string) Fleet {
	switch fleetSize {
	case FleetMedium:
		return Fleet{Certificates: 5_000, Agents: 1_000}
	case FleetLarge:
		return Fleet{Certificates: 50_000, Agents: 10_000}
	}
	return Fleet{Certificates: 500, Agents: 100}
}

// Sized are the defaults for a fleet size: explicit values are decoded over them, so they win
// key by key. An unknown size gives the small defaults (validation refuses it).
func Sized(fleetSize string) Config {
	c := Defaults()
	c.FleetSize = fleetSize
	switch fleetSize {
	case FleetMedium:
		sizeAgents(&c, "10%", "30m")
		sizeFleet(&c, 2, resources("250m", "256Mi", "2", "2Gi"), 40,
			resources("1", "2Gi", "2", "4Gi"), "100Gi", map[string]string{"max_connections": "200", "shared_buffers": "512MB"})
	case FleetLarge:
		sizeAgents(&c, "10%", "1h")
		sizeFleet(&c, 3, resources("1", "1Gi", "4", "4Gi"), 60,
			resources("2", "8Gi", "4", "16Gi"), "1000Gi", map[string]string{"max_connections": "300", "shared_buffers": "2GB"})
	}
	return c
}

func sizeFleet(c *Config, replicas int, server Resources, maxConns int, postgres Resources, storage string, pgConfig map[string]string) {
	c.Server.Replicas = replicas
	c.Server.Resources = server
	c.Server.DatabaseMaxConns = maxConns
	c.PostgreSQL.Resources = postgres
	c.PostgreSQL.Storage.Size = storage
	c.PostgreSQL.PostgresqlConfig = pgConfig
}

// sizeAgents lets a bigger fleet's DaemonSet replace more nodes' agents at once, and waits longer
// for the rollout: an agent only pauses its polling while its pod is replaced. Agents replaced
// together start together and, without jitter, stay in phase: at most about a thousand at once,
// the most that connected together without errors in the load test.
func sizeAgents(c *Config, maxUnavailable, rolloutTimeout string) {
	c.Agent.UpdateStrategy = rollingUpdate(intstr.FromString(maxUnavailable))
	c.Agent.RolloutTimeout = rolloutTimeout
}
