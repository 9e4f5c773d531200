package config

import "fmt"

// Warnings are what a user should know about a configuration that is valid: settings certctl
// applies in a way a redeploy cannot change. The program shows them at preview and update.
func (c Config) Warnings() []string {
	var out []string
	if c.Server.Issuer.ACME.Enabled {
		out = append(out, "certctl:server.issuer.acme: certctl v2.1.7 creates its ACME issuers from these settings once, "+
			"on the first boot with an empty issuers table; on a running deployment a change here does nothing: "+
			"change the issuers through certctl's API (PUT /api/v1/issuers/iss-acme-prod) instead")
	}
	if sm := c.Monitoring.ServiceMonitor; c.Monitoring.Enabled && sm.Enabled && sm.TLSConfig.InsecureSkipVerify {
		out = append(out, "certctl:monitoring.serviceMonitor.tlsConfig.insecureSkipVerify: Prometheus will not verify the server's "+
			"certificate, so the scrape key goes to whoever answers: leave it false (the program verifies against the server's CA by default)")
	}
	if np := c.NetworkPolicy; np.Enabled && c.Ingress.Enabled && np.IngressControllerNamespace == "" && len(np.ExtraIngress) == 0 {
		out = append(out, "certctl:networkPolicy.ingressControllerNamespace: is empty and networkPolicy.extraIngress has no rule, "+
			"so the server NetworkPolicy drops the Ingress controller's connections: set it to the controller's namespace (e.g. ingress-nginx)")
	}
	if c.PodDisruptionBudget.Enabled && c.Server.Replicas <= 1 {
		out = append(out, "certctl:podDisruptionBudget.enabled: no PodDisruptionBudget is created for a single server replica, "+
			"since it would block every node drain: set server.replicas to 2 or more for one")
	}
	if c.Server.Keygen.Mode == "server" {
		out = append(out, "certctl:server.keygen.mode: with server, certctl v2.1.7 stores each private key it generates in the "+
			"certificate version's csr_pem, which every key holding cert.read can fetch (the agents' key included), and an agent "+
			"cannot deploy such a certificate (it has no key file): use agent outside demos")
	}
	if c.FleetSize == FleetLarge && c.PostgreSQL.Enabled && !c.InCluster() {
		out = append(out, "certctl:fleetSize: large runs on the bundled Postgres, one StatefulSet pod: a node loss is an outage "+
			"and the nightly dump loses up to a day; for 50,000 certificates use a replicated database with continuous "+
			"archiving (postgresql.cluster.enabled=true with postgresql.cluster.backup.enabled, or postgresql.enabled=false "+
			"and externalDatabase.url; docs/sizing.md)")
	}
	rotations := c.KeyRotations()
	for _, r := range rotations.List() {
		if r.AcceptsPrevious() && (r.Key != rotations.Scrape.Key || c.Monitoring.ProvisionsScrapeKey()) {
			out = append(out, fmt.Sprintf("certctl:%s: %d: the server still accepts generation %d of this key; once every client uses "+
				"generation %d, set %s to %d to stop accepting the old one (docs/runbooks/api-key-rotation.md)",
				r.Key, r.Rotation, r.Rotation-1, r.Rotation, r.DoneKey, r.Rotation))
		}
	}
	return out
}
