package config

import (
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/robfig/cron/v3"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Validate returns nil, or a *ValidationError listing every problem in the configuration.
// Format checks apply to every value that is set, whether or not its feature is enabled;
// "required" checks apply only to enabled features. reserved is what the program's own pods
// hold (components.Reserved), which the user's extras may not collide with.
func (c Config) Validate(reserved Reserved) error {
	p := &problems{}
	for _, section := range []func(*problems, Config){
		validateNames,
		validateMetadata,
		validateServer,
		validateServerTLS,
		validateAuth,
		validateServerFeatures,
		validateIssuers,
		validateNotifiers,
		validatePostgres,
		validateAgent,
		validateIngress,
		validateAccess,
		validatePDB,
		validateNetworkPolicy,
		validateMonitoring,
		validateBackup,
		validateMigrations,
	} {
		section(p, c)
	}
	validateExtras(p, c, reserved)
	checkKeyDir(p, c.Agent.KeyDir, reserved.AgentVolumes)
	checkTLSMountPath(p, c.Server.TLS.MountPath, reserved)
	return p.err()
}

func validateNames(p *problems, c Config) {
	before := p.len()
	if !slices.Contains(fleetSizes, c.FleetSize) {
		p.addf("fleetSize", "use one of: "+strings.Join(fleetSizes, ", "), "%q is not a fleet size", c.FleetSize)
	}
	checkName(p, "releaseName", c.ReleaseName, dnsLabel)
	checkOptionalName(p, "nameOverride", c.NameOverride, dnsLabel)
	if c.FullnameOverride != "" {
		checkName(p, "fullnameOverride", c.Fullname(), dnsLabel)
	}
	if p.len() == before {
		validateFullname(p, c)
	}
	checkName(p, "namespace", c.Namespace, dnsLabel)
	checkOptionalName(p, "serviceAccount.name", c.ServiceAccount.Name, dnsSubdomain)
	for i, s := range c.ImagePullSecrets {
		checkName(p, index("imagePullSecrets", i)+".name", s.Name, dnsSubdomain)
	}
}

// validateFullname reports once, on the key that sets the fullname, when a name derived from it
// cannot be created.
func validateFullname(p *problems, c Config) {
	key, fix := "releaseName", "shorten releaseName"
	if c.FullnameOverride != "" {
		key, fix = "fullnameOverride", "shorten fullnameOverride"
	} else if c.NameOverride != "" && !strings.Contains(c.ReleaseName, c.NameOverride) {
		fix = "shorten releaseName or nameOverride"
	}
	full := c.Fullname()
	if full == "" || full[0] < 'a' || full[0] > 'z' {
		p.addf(key, "use a name that starts with a lowercase letter",
			"the fullname %q does not start with a letter, so the Service %q would be refused", full, c.Names().Server)
		return
	}
	limit, worst := math.MaxInt, namedObject{}
	for _, d := range c.namedObjects() {
		if allowed := d.max - (len(d.name) - len(full)); allowed < limit {
			limit, worst = allowed, d
		}
	}
	if len(full) > limit {
		p.addf(key, fmt.Sprintf("%s so the fullname is at most %d characters", fix, limit),
			"the fullname %q is %d characters, so the %s %q would exceed %d characters", full, len(full), worst.kind, worst.name, worst.max)
		return
	}
	for _, d := range c.namedObjects() {
		if errs := validation.IsDNS1123Label(d.name); len(errs) > 0 {
			p.addf(key, "use lowercase letters, digits and '-' only",
				"the %s name %q is not a DNS-1123 label: %s", d.kind, d.name, joinErrs(errs))
			return
		}
	}
}

// selectorLabels are set by the program on every object; overriding them breaks selectors.
var selectorLabels = []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/component"}

func validateMetadata(p *problems, c Config) {
	checkLabels(p, "commonLabels", c.CommonLabels)
	for _, k := range selectorLabels {
		if _, ok := c.CommonLabels[k]; ok {
			p.addf(child("commonLabels", k), "remove it (use nameOverride or releaseName to change it)",
				"%s is a selector label the program sets", k)
		}
	}
	checkAnnotations(p, "commonAnnotations", c.CommonAnnotations)
}

func validateServer(p *problems, c Config) {
	s := c.Server
	atLeast(p, "server.replicas", s.Replicas, 1)
	checkWorkload(p, "server", s.Workload)
	checkPort(p, "server.port", s.Port)
	atLeast(p, "server.startupTimeoutSeconds", s.StartupTimeoutSeconds, 1)
	checkProbe(p, "server.livenessProbe", s.LivenessProbe)
	checkProbe(p, "server.readinessProbe", s.ReadinessProbe)
	oneOf(p, "server.service.type", s.Service.Type, "ClusterIP", "NodePort", "LoadBalancer")
	checkPort(p, "server.service.port", s.Service.Port)
	checkAnnotations(p, "server.service.annotations", s.Service.Annotations)
	oneOf(p, "server.service.sessionAffinity", s.Service.SessionAffinity, "None", "ClientIP")
	if t := s.Service.SessionAffinityTimeoutSeconds; t < 1 || t > 86400 {
		p.addf("server.service.sessionAffinityTimeoutSeconds", "set it between 1 and 86400", "%d is outside what Kubernetes accepts", t)
	}
	for i, proxy := range s.TrustedProxies {
		if _, errP := netip.ParsePrefix(proxy); errP != nil {
			if _, errA := netip.ParseAddr(proxy); errA != nil {
				p.addf(index("server.trustedProxies", i), `use a CIDR such as "10.0.0.0/8" or an address such as "192.0.2.1"`, "%q is neither a CIDR nor an IP address", proxy)
			}
		}
	}
	atLeast(p, "server.databaseMaxConns", s.DatabaseMaxConns, 1)
}

func validateServerTLS(p *problems, c Config) {
	t := c.Server.TLS
	cm := t.CertManager
	switch {
	case t.ExistingSecret == "" && !cm.Enabled:
		p.add("server.tls", "the HTTPS-only server has no certificate: choose EXACTLY ONE TLS ownership path",
			"set server.tls.existingSecret to a kubernetes.io/tls Secret OR server.tls.certManager.enabled=true with server.tls.certManager.issuerRef.name")
	case t.ExistingSecret != "" && cm.Enabled:
		p.add("server.tls", "both server.tls.existingSecret and server.tls.certManager.enabled are set, but there must be EXACTLY ONE TLS ownership path",
			"remove server.tls.existingSecret or set server.tls.certManager.enabled=false")
	}
	checkOptionalName(p, "server.tls.existingSecret", t.ExistingSecret, dnsSubdomain)

	const key = "server.tls.certManager"
	checkIssuerRef(p, key+".issuerRef", cm.Enabled, cm.IssuerRef)
	checkOptionalName(p, key+".secretName", cm.SecretName, dnsSubdomain)
	if len(cm.CommonName) > 64 {
		p.addf(key+".commonName", "use at most 64 characters and put longer names in dnsNames", "is %d characters, more than X.509 allows", len(cm.CommonName))
	}
	if cm.Enabled && cm.CommonName == "" && len(cm.DNSNames) == 0 {
		p.add(key+".dnsNames", "is empty and so is commonName, so the certificate would name nothing", "add the server's DNS names")
	}
	for i, n := range cm.DNSNames {
		checkHost(p, index(key+".dnsNames", i), n)
	}
	d, okD := checkDuration(p, key+".duration", cm.Duration)
	r, okR := checkDuration(p, key+".renewBefore", cm.RenewBefore)
	if okD && d.Hours() < 1 {
		p.addf(key+".duration", `set it to "1h" or more`, "%q is shorter than cert-manager's minimum of 1h", cm.Duration)
	}
	if okD && okR && r >= d {
		p.addf(key+".renewBefore", "set it below "+key+".duration", "%q is not shorter than the duration %q, so the certificate would renew forever", cm.RenewBefore, cm.Duration)
	}
}

func validateAuth(p *problems, c Config) {
	for _, r := range c.KeyRotations().List() {
		atLeast(p, r.Key, r.Rotation, 0)
		atLeast(p, r.DoneKey, r.Done, 0)
		if (r.Rotation > 0 || r.Done > 0) && r.Given.IsSet() {
			p.add(r.Key, "rotates a generated key, but "+r.GivenKey+" is set",
				"remove "+r.Key+" and "+r.DoneKey+": they rotate generated keys only (a key you set changes when you set the new one; see docs/runbooks/api-key-rotation.md)")
		}
		if r.Done > r.Rotation {
			p.addf(r.DoneKey, "set it to "+strconv.Itoa(r.Rotation)+" at most (the current generation), once every client uses the current key",
				"%d is beyond %s (%d): no generation %d exists", r.Done, r.Key, r.Rotation, r.Done)
		}
	}
	a := c.Server.Auth
	switch a.Type {
	case AuthAPIKey:
	case AuthNone:
		p.add("server.auth.type", `"none" cannot run in a pod: certctl v2.1.7 accepts it on a non-loopback address only with CERTCTL_DEMO_MODE_ACK and a CERTCTL_DEMO_MODE_ACK_TS at most 24 hours old, so any pod started or restarted a day after the acknowledgement refuses to boot`,
			`use "api-key"; for single sign-on, put an authenticating gateway (an OIDC proxy) in front of the server`)
	default:
		p.addf("server.auth.type", `use "api-key" (the only mode certctl runs in a pod), with an authenticating gateway in front for JWT or OIDC`,
			"%q is not supported", a.Type)
	}

	// Every key becomes a CERTCTL_API_KEYS_NAMED entry "name:key[:admin]", so a key cannot hold
	// ',' or ':' or blanks, and one key cannot belong to two names (the server would match either).
	owners := map[string]string{}
	claim := func(key, k string) {
		if k == "" || strings.TrimFunc(k, isKeyChar) != "" {
			p.add(key, "a key is empty or contains ',', ':', whitespace or another character outside letters, digits and - . _ ~",
				"use letters, digits and - . _ ~ only (or leave it unset to have one generated)")
			return
		}
		if k == "change-me-in-production" {
			p.add(key, "a key is certctl's demo placeholder, which v2.1.7 refuses to start with", "use a random key (or leave it unset to have one generated)")
			return
		}
		if other, dup := owners[k]; dup {
			p.addf(key, "give every credential its own value", "a key is also used by %s", other)
			return
		}
		owners[k] = key
	}
	if a.APIKey.IsSet() {
		for _, k := range strings.Split(a.APIKey.reveal(), ",") {
			claim("server.auth.apiKey", k)
		}
	}
	if a.AgentAPIKey.IsSet() {
		claim("server.auth.agentApiKey", a.AgentAPIKey.reveal())
	}
	if a.AgentBootstrapToken.IsSet() {
		claim("server.auth.agentBootstrapToken", a.AgentBootstrapToken.reveal())
	}
	if k := c.Monitoring.ServiceMonitor.ScrapeKey; k.IsSet() {
		claim("monitoring.serviceMonitor.scrapeKey", k.reveal())
	}
	if a.NamedKeys.IsSet() {
		validateNamedKeys(p, a.NamedKeys.reveal(), claim)
	}
	if c.Server.ConfigEncryptionKey.reveal() == "change-me-32-char-encryption-key" {
		p.add("server.configEncryptionKey", "is certctl's demo placeholder, which v2.1.7 refuses to start with", "use 32 or more random characters (or leave it unset to have one generated)")
	}
	if k := c.Server.ConfigEncryptionKey; k.IsSet() && len(k.reveal()) < 32 {
		p.add("server.configEncryptionKey", "is shorter than the 32 bytes certctl requires", "use at least 32 random characters (or leave it unset to have one generated)")
	}
}

// validateNamedKeys checks server.auth.namedKeys the way certctl parses CERTCTL_API_KEYS_NAMED.
func validateNamedKeys(p *problems, list string, claim func(key, k string)) {
	const key = "server.auth.namedKeys"
	reserved := []string{AdminKeyName, AgentsKeyName, AgentBootstrapKeyName, PrometheusKeyName}
	for i, e := range strings.Split(list, ",") {
		parts := strings.Split(e, ":")
		if !(len(parts) == 2 || len(parts) == 3 && parts[2] == "admin") || !isKeyName(parts[0]) {
			p.addf(key, `give comma-separated "name:key" or "name:key:admin" entries, names of letters, digits, '_' and '-'`,
				"entry %d is not name:key[:admin]", i+1)
			continue
		}
		if slices.Contains(reserved, parts[0]) {
			p.addf(key, "rename the entry (reserved: "+strings.Join(reserved, ", ")+")", "entry %d uses the name %q, which the program gives its own key", i+1, parts[0])
		}
		claim(key, parts[1])
	}
}

// isKeyChar is what a key may hold: it travels inside comma- and colon-separated lists, env
// vars and HTTP headers unescaped.
func isKeyChar(r rune) bool {
	return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("-._~", r))
}

// isKeyName is certctl's rule for a named key's name: [A-Za-z0-9_-]+.
func isKeyName(s string) bool {
	return s != "" && strings.TrimFunc(s, func(r rune) bool {
		return r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-')
	}) == ""
}

func validateServerFeatures(p *problems, c Config) {
	s := c.Server
	oneOf(p, "server.logging.level", s.Logging.Level, "debug", "info", "warn", "error")
	if s.Logging.Format != "json" {
		// v2.1.7 accepts "text" and logs JSON anyway (its logger is always JSON).
		p.addf("server.logging.format", `set it to "json" (or leave it unset)`, "%q would be ignored: certctl v2.1.7 always logs JSON", s.Logging.Format)
	}
	oneOf(p, "server.keygen.mode", s.Keygen.Mode, "agent", "server")

	smtp := s.SMTP
	checkPort(p, "server.smtp.port", smtp.Port)
	if smtp.Enabled && smtp.Host == "" {
		p.add("server.smtp.host", "is empty while server.smtp.enabled is true", "set it to your mail relay's host name")
	}
	if strings.Contains(smtp.Host, ":") {
		p.addf("server.smtp.host", "put the port in server.smtp.port", "%q contains a port", smtp.Host)
	}
	if smtp.Enabled && smtp.FromAddress == "" {
		p.add("server.smtp.fromAddress", "is empty while server.smtp.enabled is true", "set it to the sender address, e.g. certctl@example.com")
	}
	if smtp.FromAddress != "" {
		checkEmail(p, "server.smtp.fromAddress", smtp.FromAddress)
	}
	unusedSecret(p, "server.smtp.password", smtp.Password, smtp.Enabled, "server.smtp.enabled")

	dg := s.Digest
	checkDuration(p, "server.digest.interval", dg.Interval)
	if dg.Enabled && !smtp.Enabled {
		p.add("server.digest.enabled", "the digest goes out by email but server.smtp.enabled is false",
			"set server.smtp.enabled=true with host and fromAddress, or set server.digest.enabled=false")
	}
	if dg.Enabled && len(dg.Recipients) == 0 {
		p.add("server.digest.recipients", "is empty while server.digest.enabled is true", "add at least one email address")
	}
	for i, r := range dg.Recipients {
		checkEmail(p, index("server.digest.recipients", i), r)
	}

	if s.EST.Enabled && s.EST.IssuerID == "" {
		p.add("server.est.issuerID", "is empty while server.est.enabled is true", `set it to the issuer EST enrolls against, e.g. "iss-local"`)
	}

	atLeast(p, "server.rateLimiting.rps", s.RateLimiting.RPS, 1)
	if s.RateLimiting.RPS >= 1 && s.RateLimiting.Burst < s.RateLimiting.RPS {
		p.addf("server.rateLimiting.burst", fmt.Sprintf("set it to %d (rps) or more", s.RateLimiting.RPS),
			"%d is below server.rateLimiting.rps (%d)", s.RateLimiting.Burst, s.RateLimiting.RPS)
	}
	checkDuration(p, "server.networkScan.interval", s.NetworkScan.Interval)
	if v := s.Scheduler.JobProcessorInterval; v != "" {
		if d, ok := checkDuration(p, "server.scheduler.jobProcessorInterval", v); ok && d < time.Second {
			p.addf("server.scheduler.jobProcessorInterval", `set it to "1s" or more, or leave it empty for the keygen mode's default`, "%q is below the minimum certctl accepts (1s)", v)
		}
	}
	checkDuration(p, "server.scheduler.crlGenerationInterval", s.Scheduler.CRLGenerationInterval)
	if s.RateLimiting.Backend != "" {
		oneOf(p, "server.rateLimiting.backend", s.RateLimiting.Backend, "memory", "postgres")
	}
	if d, ok := checkDuration(p, "server.rateLimiting.janitorInterval", s.RateLimiting.JanitorInterval); ok && d < time.Minute {
		p.addf("server.rateLimiting.janitorInterval", `set it to "1m" or more`, "%q is below the minimum certctl accepts (1m)", s.RateLimiting.JanitorInterval)
	}

	if o := strings.TrimSpace(s.CORS.Origins); o != "" {
		for i, origin := range splitList(o) {
			switch {
			case origin == "*":
				p.add("server.cors.origins", `"*" makes certctl v2.1.7 refuse to start outside its 24-hour demo mode`,
					`set the origins themselves instead, e.g. "https://app.example.com"`)
			case !isOrigin(origin):
				p.addf("server.cors.origins", `use comma-separated origins such as "https://app.example.com"`,
					"entry %d (%q) is not an origin", i+1, origin)
			}
		}
	}
}

// isOrigin accepts scheme://host[:port] with an http(s) scheme, as browsers send it.
func isOrigin(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.Path == "" && u.RawQuery == "" && u.Fragment == "" && u.User == nil
}

func validateIssuers(p *problems, c Config) {
	is := c.Server.Issuer
	checkOptionalName(p, "server.issuer.local.existingSecret", is.Local.ExistingSecret, dnsSubdomain)
	for _, x := range []struct {
		key string
		on  bool
	}{{"server.issuer.stepca.enabled", is.StepCA.Enabled}, {"server.issuer.openssl.enabled", is.OpenSSL.Enabled}} {
		if x.on {
			p.add(x.key, "is not wired by this program: certctl reads this issuer's settings from the environment only to create it once, on the first boot with an empty issuers table",
				"use certctl's API to create the issuer (POST /api/v1/issuers) and set "+x.key+"=false")
		}
	}

	const key = "server.issuer.acme"
	a := is.ACME
	oneOf(p, key+".challengeType", a.ChallengeType, "http-01", "dns-01", "dns-persist-01")
	if a.DirectoryURL != "" {
		checkURL(p, key+".directoryURL", a.DirectoryURL, false, "https://acme-v02.api.letsencrypt.org/directory", "https")
	}
	if a.Email != "" {
		checkEmail(p, key+".email", a.Email)
	}
	// certctl v2.1.7 reads no variable for these: they are fields of an ACME issuer's stored
	// config, set through the API, so a key here would do nothing.
	for _, x := range []struct {
		key, field string
		set        bool
	}{
		{"eabKid", "eab_kid", a.EABKid != ""},
		{"eabHmac", "eab_hmac", a.EABHmac.IsSet()},
		{"dnsPropagationWait", "dns_propagation_wait (seconds)", a.DNSPropagationWait != ""},
	} {
		if x.set {
			p.addf(key+"."+x.key, "remove it and set "+x.field+" on the ACME issuer through certctl's API (PUT /api/v1/issuers/<id>)",
				"certctl v2.1.7 reads no environment variable for it, so the setting would do nothing")
		}
	}
	// v2.1.7 reads these but never copies them into the issuer it seeds from the environment.
	for _, x := range []struct{ key, field, value string }{
		{"dnsPresentScript", "dns_present_script", a.DNSPresentScript},
		{"dnsCleanupScript", "dns_cleanup_script", a.DNSCleanupScript},
		{"dnsPersistIssuerDomain", "dns_persist_issuer_domain", a.DNSPersistIssuerDomain},
	} {
		if x.value != "" {
			p.addf(key+"."+x.key, "remove it and set "+x.field+" on the ACME issuer through certctl's API (PUT /api/v1/issuers/<id>)",
				"certctl v2.1.7 never copies it into the issuer it creates from the environment, so the setting would do nothing")
		}
	}
	if a.ChallengeType == "dns-01" || a.ChallengeType == "dns-persist-01" {
		p.addf(key+".challengeType", "use http-01 here, or create the "+a.ChallengeType+" issuer through certctl's API with its DNS scripts",
			"%s needs DNS scripts, which the issuer certctl v2.1.7 creates from the environment never gets, so it would fail", a.ChallengeType)
	}
	if !a.Enabled {
		return
	}
	if a.DirectoryURL == "" {
		p.add(key+".directoryURL", "is empty while "+key+".enabled is true", "set it to the ACME directory, e.g. https://acme-v02.api.letsencrypt.org/directory")
	}
	if a.Email == "" {
		p.add(key+".email", "is empty while "+key+".enabled is true", "set it to the ACME account contact address")
	}
}

func validateNotifiers(p *problems, c Config) {
	n := c.Server.Notifiers
	for _, x := range []struct {
		key, cred string
		enabled   bool
		value     Secret
		isURL     bool
	}{
		{"server.notifiers.slack", "webhookUrl", n.Slack.Enabled, n.Slack.WebhookURL, true},
		{"server.notifiers.teams", "webhookUrl", n.Teams.Enabled, n.Teams.WebhookURL, true},
		{"server.notifiers.pagerduty", "routingKey", n.PagerDuty.Enabled, n.PagerDuty.RoutingKey, false},
		{"server.notifiers.opsgenie", "apiKey", n.Opsgenie.Enabled, n.Opsgenie.APIKey, false},
	} {
		credKey := x.key + "." + x.cred
		switch {
		case x.enabled && !x.value.IsSet():
			p.add(credKey, "is empty while "+x.key+".enabled is true",
				"store it with: pulumi config set --secret --path "+credKey+" <value>, or set "+x.key+".enabled=false")
		case x.enabled && x.isURL:
			checkURL(p, credKey, x.value.reveal(), true, "https://hooks.example.com/...", "https")
		}
		unusedSecret(p, credKey, x.value, x.enabled, x.key+".enabled")
	}
	oneOf(p, "server.notifiers.pagerduty.severity", n.PagerDuty.Severity, "critical", "error", "warning", "info")
	oneOf(p, "server.notifiers.opsgenie.priority", n.Opsgenie.Priority, "P1", "P2", "P3", "P4", "P5")
}

// validateExtras checks the user's extra env, volumes and mounts against the program's own.
func validateExtras(p *problems, c Config, reserved Reserved) {
	s := c.Server
	checkEnv(p, "server", s.Env, s.ExtraEnv, reserved.ServerEnv)
	checkEnv(p, "agent", c.Agent.Env, c.Agent.ExtraEnv, reserved.AgentEnv)

	var ownVolumes []string
	mounted := map[string]string{}
	for _, v := range reserved.ServerVolumes {
		ownVolumes = append(ownVolumes, v.Name)
		mounted[path.Clean(v.MountPath)] = "the program's " + v.Name + " volume"
	}

	volumes := map[string]int{}
	for i, v := range s.Volumes {
		k := index("server.volumes", i)
		if n := volumeSources(v.VolumeSource); n != 1 {
			p.addf(k, "give exactly one source such as secret, configMap or emptyDir", "has %d volume sources", n)
		} else {
			checkVolumeSource(p, k, v)
		}
		if !checkName(p, k+".name", v.Name, dnsLabel) {
			continue
		}
		if j, dup := volumes[v.Name]; dup {
			p.addf(k+".name", "rename or remove one of them", "%q duplicates %s", v.Name, index("server.volumes", j))
			continue
		}
		volumes[v.Name] = i
		if slices.Contains(ownVolumes, v.Name) {
			p.addf(k+".name", "rename it (reserved: "+strings.Join(ownVolumes, ", ")+")", "%q is a volume name the program uses", v.Name)
		}
	}
	for i, m := range s.VolumeMounts {
		k := index("server.volumeMounts", i)
		if _, ok := volumes[m.Name]; !ok {
			p.addf(k+".name", "add the volume to server.volumes or fix the name", "%q names no volume in server.volumes", m.Name)
		}
		if !path.IsAbs(m.MountPath) {
			checkAbsPath(p, k+".mountPath", m.MountPath)
			continue
		}
		if owner, taken := mounted[path.Clean(m.MountPath)]; taken {
			p.addf(k+".mountPath", "use another mountPath", "%q is already mounted by %s", m.MountPath, owner)
			continue
		}
		mounted[path.Clean(m.MountPath)] = k
	}
}

func validatePostgres(p *problems, c Config) {
	pg := c.PostgreSQL
	ext := c.ExternalDatabase.URL
	switch {
	case !pg.Enabled && !ext.IsSet():
		p.add("externalDatabase.url", "is empty while postgresql.enabled is false, so the server has no database",
			"store it with: pulumi config set --secret --path externalDatabase.url postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full, or set postgresql.enabled=true")
	case pg.Enabled && ext.IsSet():
		p.add("externalDatabase.url", "is set while postgresql.enabled is true, so which database the server uses is ambiguous",
			"remove externalDatabase.url to use the bundled Postgres, or set postgresql.enabled=false to use the external one")
	}
	if ext.IsSet() {
		checkURL(p, "externalDatabase.url", ext.reveal(), true, "postgres://USER:PASSWORD@HOST:5432/DB?sslmode=verify-full", "postgres", "postgresql")
		checkExternalSSLMode(p, ext.reveal(), pg.TLS.Mode)
	}
	unusedSecret(p, "postgresql.auth.password", pg.Auth.Password, pg.Enabled, "postgresql.enabled")
	if pg.Cluster.Enabled && !pg.Enabled {
		p.add("postgresql.cluster.enabled", "is true while postgresql.enabled is false, so whether the server uses the cluster or externalDatabase.url is ambiguous",
			"set postgresql.enabled=true (and remove externalDatabase.url) for the CloudNativePG cluster, or postgresql.cluster.enabled=false")
	}
	for _, x := range []struct {
		key string
		on  bool
	}{{"postgresql.cluster.backup.enabled", pg.Cluster.Backup.Enabled}, {"postgresql.cluster.recovery.enabled", pg.Cluster.Recovery.Enabled},
		{"postgresql.cluster.ownerSecret", pg.Cluster.OwnerSecret != ""}} {
		if x.on && !pg.Cluster.Enabled {
			p.add(x.key, "is set while postgresql.cluster.enabled is false", "set postgresql.cluster.enabled=true, or remove "+x.key)
		}
	}

	modeOK := oneOf(p, "postgresql.tls.mode", pg.TLS.Mode, "disable", "require", "verify-ca", "verify-full")
	if modeOK && !c.InCluster() && (pg.TLS.Mode == "verify-ca" || pg.TLS.Mode == "verify-full") && pg.TLS.CASecretRef == "" {
		p.addf("postgresql.tls.caSecretRef", `set it to a Secret with a "ca.crt" key, or use postgresql.tls.mode require`,
			"is empty while postgresql.tls.mode is %s, which verifies the server against a CA", pg.TLS.Mode)
	}
	checkOptionalName(p, "postgresql.tls.caSecretRef", pg.TLS.CASecretRef, dnsSubdomain)
	switch {
	case c.InCluster():
		validatePostgresCluster(p, c)
	case modeOK && pg.Enabled && pg.TLS.Mode != "disable" && pg.TLS.CertSecretRef == "":
		p.addf("postgresql.tls.certSecretRef",
			"set it to a kubernetes.io/tls Secret (tls.crt, tls.key) issued for "+c.Names().Postgres+", or use postgresql.tls.mode disable",
			"is empty while postgresql.tls.mode is %s, and the bundled Postgres serves no TLS without a certificate", pg.TLS.Mode)
	case !pg.Enabled && pg.TLS.CertSecretRef != "":
		p.add("postgresql.tls.certSecretRef", "is set while postgresql.enabled is false, so nothing would serve it",
			"remove it (an external database brings its own certificate)")
	}
	checkOptionalName(p, "postgresql.tls.certSecretRef", pg.TLS.CertSecretRef, dnsSubdomain)

	checkWorkload(p, "postgresql", pg.Workload)
	checkPGIdentifier(p, "postgresql.auth.database", pg.Auth.Database)
	checkPGIdentifier(p, "postgresql.auth.username", pg.Auth.Username)
	checkSize(p, "postgresql.storage.size", pg.Storage.Size)
	checkOptionalName(p, "postgresql.storage.storageClass", pg.Storage.StorageClass, dnsSubdomain)
	checkProbe(p, "postgresql.livenessProbe", pg.LivenessProbe)
	checkProbe(p, "postgresql.readinessProbe", pg.ReadinessProbe)
	checkPort(p, "postgresql.service.port", pg.Service.Port)
	for _, k := range sortedKeys(pg.PostgresqlConfig) {
		if !isGUCName(k) || pg.PostgresqlConfig[k] == "" {
			p.addf(child("postgresql.postgresqlConfig", k), `use a Postgres setting name such as "max_connections" with a non-empty value`,
				"%q is not a setting name with a value", k)
		}
	}
}

// checkExternalSSLMode: with an external database the URL's sslmode is what lib/pq uses
// (require when absent), while postgresql.tls.mode decides whether the server mounts the CA. A
// verifying mode with a URL that does not verify would mount a CA nobody checks against.
func checkExternalSSLMode(p *problems, raw, mode string) {
	u, err := url.Parse(raw)
	if err != nil || mode == "disable" {
		return
	}
	urlMode := u.Query().Get("sslmode")
	if urlMode == "" {
		urlMode = "require"
	}
	if urlMode != mode {
		p.addf("postgresql.tls.mode", "set sslmode="+mode+" in externalDatabase.url, or set postgresql.tls.mode to "+urlMode,
			"is %s while externalDatabase.url says sslmode=%s, which is what the server uses", mode, urlMode)
	}
}

// checkPGIdentifier keeps names to unquoted Postgres identifiers, which are also safe inside the
// connection URL the program builds.
func checkPGIdentifier(p *problems, key, v string) {
	ok := v != "" && len(v) <= 63 && (v[0] == '_' || v[0] >= 'a' && v[0] <= 'z')
	for _, r := range v {
		ok = ok && (r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	}
	if !ok {
		p.addf(key, "use at most 63 lowercase letters, digits or '_', starting with a letter", "%q is not a plain Postgres identifier", v)
	}
}

func isGUCName(k string) bool {
	for _, r := range k {
		if !(r == '_' || r == '.' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return k != ""
}

func validateAgent(p *problems, c Config) {
	a := c.Agent
	oneOf(p, "agent.kind", a.Kind, AgentDaemonSet, AgentDeployment)
	atLeast(p, "agent.replicas", a.Replicas, 1)
	// A fixed name shared by several pods would make them one agent to the server.
	switch {
	case a.Name != "" && a.Kind == AgentDaemonSet:
		p.add("agent.name", "is fixed while agent.kind is DaemonSet, so every node's agent would register under one name",
			"remove agent.name (each pod then uses its own name) or set agent.kind=Deployment")
	case a.Name != "" && a.Replicas > 1:
		p.addf("agent.name", "remove agent.name or set agent.replicas=1",
			"is fixed while agent.replicas is %d, so the replicas would register under one name", a.Replicas)
	}
	// Like node and pod names, the other identities an agent registers under.
	checkOptionalName(p, "agent.name", a.Name, dnsSubdomain)
	checkWorkload(p, "agent", a.Workload)
	checkDuration(p, "agent.rolloutTimeout", a.RolloutTimeout)
	checkAgentUpdateStrategy(p, a.UpdateStrategy)
	if strings.TrimSpace(a.DiscoveryDirs) != "" {
		for i, d := range splitList(a.DiscoveryDirs) {
			if !path.IsAbs(d) {
				p.addf("agent.discoveryDirs", `give comma-separated absolute paths such as "/etc/ssl,/etc/nginx"`,
					"entry %d (%q) is not an absolute path", i+1, d)
			}
		}
	}
}

// checkAgentUpdateStrategy accepts what the API server would: OnDelete, or RollingUpdate whose
// maxUnavailable and maxSurge are counts or percentages, not both zero.
func checkAgentUpdateStrategy(p *problems, u appsv1.DaemonSetUpdateStrategy) {
	const key = "agent.updateStrategy"
	switch u.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
		return
	case appsv1.RollingUpdateDaemonSetStrategyType:
	default:
		p.addf(key+".type", `use "RollingUpdate" or "OnDelete"`, "%q is not a DaemonSet update strategy", u.Type)
		return
	}
	if u.RollingUpdate == nil {
		return
	}
	total := 0
	for _, f := range []struct {
		field string
		v     *intstr.IntOrString
	}{{"maxUnavailable", u.RollingUpdate.MaxUnavailable}, {"maxSurge", u.RollingUpdate.MaxSurge}} {
		field, v := f.field, f.v
		if v == nil {
			continue
		}
		n, err := intstr.GetScaledValueFromIntOrPercent(v, 100, true)
		if err != nil || n < 0 || (v.Type == intstr.String && n > 100) {
			p.addf(key+".rollingUpdate."+field, `use a count such as 1 or a percentage of the nodes such as "10%"`, "%q is not a count or a percentage up to 100%%", v.String())
			continue
		}
		total += n
	}
	if total == 0 {
		p.add(key+".rollingUpdate", "has maxUnavailable and maxSurge both 0, so the rollout could never start",
			`set rollingUpdate.maxUnavailable to 1 or a percentage such as "10%"`)
	}
}

// imageDirs are the directories of the certctl images (alpine, with the binaries and migrations
// under /app) that a volume mounted there would hide.
var imageDirs = []string{"/app", "/app/migrations", "/bin", "/dev", "/etc", "/lib", "/proc", "/root", "/run", "/sbin", "/sys", "/usr", "/var"}

// checkTLSMountPath: the server, migration and agent containers all mount the server's
// certificate at server.tls.mountPath, so it must be a directory of its own in each: not the
// root or an image directory, and not at, above or below another of the program's mounts (the
// API server refuses a repeated mountPath; a mount inside the read-only Secret cannot be made).
func checkTLSMountPath(p *problems, mountPath string, r Reserved) {
	const key = "server.tls.mountPath"
	if !checkAbsPath(p, key, mountPath) {
		return
	}
	clean := path.Clean(mountPath)
	const fix = "use a directory of its own, such as /etc/certctl/tls (the default)"
	if clean == "/" || slices.Contains(imageDirs, clean) {
		p.addf(key, fix, "%q would hide the image's %s", mountPath, clean)
		return
	}
	for _, pod := range []struct {
		name    string
		volumes []ReservedVolume
	}{{"server", r.ServerVolumes}, {"agent", r.AgentVolumes}} {
		for _, v := range pod.volumes {
			if v.Key == key {
				continue
			}
			if m := path.Clean(v.MountPath); clean == m || strings.HasPrefix(clean, m+"/") || strings.HasPrefix(m, clean+"/") {
				p.addf(key, fix, "%q collides with the %s pod's %s volume at %s", mountPath, pod.name, v.Name, v.MountPath)
			}
		}
	}
}

// checkKeyDir: the agent creates agent.keyDir itself (so it can make it 0700) inside a volume the
// program mounts at its parent; that parent must be a directory of its own, not the root, a
// system directory of the image, or one of the agent's other mounts.
func checkKeyDir(p *problems, keyDir string, others []ReservedVolume) {
	const key = "agent.keyDir"
	if !checkAbsPath(p, key, keyDir) {
		return
	}
	clean := path.Clean(keyDir)
	parent := path.Dir(clean)
	const fix = "use a directory two levels below / of its own, such as /var/lib/certctl/keys"
	switch {
	case parent == "/":
		p.addf(key, fix, "%q sits directly under /: the agent creates the key directory itself (to make it 0700) inside a volume mounted at its parent, and a volume cannot be mounted at /", keyDir)
		return
	case slices.Contains(imageDirs, parent):
		p.addf(key, fix, "%q would mount the key volume at %s, hiding the image's %s", keyDir, parent, parent)
		return
	}
	for _, v := range others {
		if parent == v.MountPath || clean == v.MountPath || strings.HasPrefix(clean, strings.TrimSuffix(v.MountPath, "/")+"/") {
			p.addf(key, fix, "%q collides with the agent's %s volume at %s (the key volume is mounted at %s)", keyDir, v.Name, v.MountPath, parent)
		}
	}
}

func validateIngress(p *problems, c Config) {
	in := c.Ingress
	checkOptionalName(p, "ingress.className", in.ClassName, dnsSubdomain)
	checkAnnotations(p, "ingress.annotations", in.Annotations)
	checkIssuerRef(p, "ingress.certManager.issuerRef", in.CertManager.Enabled, in.CertManager.IssuerRef)
	if in.Enabled && len(in.Hosts) == 0 {
		p.add("ingress.hosts", "is empty while ingress.enabled is true", "add at least one host with its paths")
	}
	for i, h := range in.Hosts {
		k := index("ingress.hosts", i)
		if h.Host != "" {
			checkHost(p, k+".host", h.Host)
		}
		if len(h.Paths) == 0 {
			p.add(k+".paths", "is empty", `add a path such as {"path": "/", "pathType": "Prefix"}`)
		}
		for j, hp := range h.Paths {
			pk := index(k+".paths", j)
			if !strings.HasPrefix(hp.Path, "/") {
				p.addf(pk+".path", `use a path starting with "/"`, "%q is not an absolute path", hp.Path)
			}
			oneOf(p, pk+".pathType", hp.PathType, "Exact", "Prefix", "ImplementationSpecific")
		}
	}
	for i, t := range in.TLS {
		k := index("ingress.tls", i)
		checkOptionalName(p, k+".secretName", t.SecretName, dnsSubdomain)
		for j, h := range t.Hosts {
			checkHost(p, index(k+".hosts", j), h)
		}
	}
}

func validateAccess(p *problems, c Config) {
	checkAnnotations(p, "serviceAccount.annotations", c.ServiceAccount.Annotations)
	if !c.ServiceAccount.Create && c.ServiceAccount.Name == "" {
		p.add("serviceAccount.name", "is empty while serviceAccount.create is false, so the pods would name a ServiceAccount that does not exist",
			`set it to an existing ServiceAccount (e.g. "default") or set serviceAccount.create=true`)
	}
	if c.KubernetesSecrets.Enabled && !c.RBAC.Create {
		p.add("kubernetesSecrets.enabled", "is true while rbac.create is false, but its Secret verbs live in the program's ClusterRole",
			"set rbac.create=true or set kubernetesSecrets.enabled=false")
	}
}

func validateNetworkPolicy(p *problems, c Config) {
	np := c.NetworkPolicy
	if np.IngressControllerNamespace != "" {
		checkName(p, "networkPolicy.ingressControllerNamespace", np.IngressControllerNamespace, dnsLabel)
	}
	switch {
	case np.PrometheusNamespace != "":
		checkName(p, "networkPolicy.prometheusNamespace", np.PrometheusNamespace, dnsLabel)
	case np.Enabled && c.Monitoring.Enabled && c.Monitoring.ServiceMonitor.Enabled:
		p.add("networkPolicy.prometheusNamespace", "is empty while the server NetworkPolicy would drop every scrape of the ServiceMonitor",
			"set it to the namespace Prometheus runs in (kube-prometheus-stack: monitoring)")
	}
	for i, r := range np.ExtraIngress {
		k := index("networkPolicy.extraIngress", i)
		checkNetworkPolicyPeers(p, k+".from", r.From)
		checkNetworkPolicyPorts(p, k+".ports", r.Ports)
	}
	for i, r := range np.ExtraEgress {
		k := index("networkPolicy.extraEgress", i)
		checkNetworkPolicyPeers(p, k+".to", r.To)
		checkNetworkPolicyPorts(p, k+".ports", r.Ports)
	}
}

func validatePDB(p *problems, c Config) {
	pdb := c.PodDisruptionBudget
	switch {
	case pdb.MinAvailable != nil && pdb.MaxUnavailable != nil:
		p.add("podDisruptionBudget", "minAvailable and maxUnavailable are both set, but a PodDisruptionBudget takes one",
			"keep one: remove podDisruptionBudget.minAvailable (the default is 1) or podDisruptionBudget.maxUnavailable")
	case pdb.Enabled && pdb.MinAvailable == nil && pdb.MaxUnavailable == nil:
		p.add("podDisruptionBudget", "is enabled without minAvailable or maxUnavailable",
			"set podDisruptionBudget.minAvailable (e.g. 1) or podDisruptionBudget.maxUnavailable")
	}
	checkIntOrPercent(p, "podDisruptionBudget.minAvailable", pdb.MinAvailable)
	checkIntOrPercent(p, "podDisruptionBudget.maxUnavailable", pdb.MaxUnavailable)
}

var relabelActions = []string{"replace", "keep", "drop", "hashmod", "labelmap", "labeldrop", "labelkeep", "lowercase", "uppercase", "keepequal", "dropequal"}

func validateMonitoring(p *problems, c Config) {
	m := c.Monitoring
	for _, x := range []struct {
		key string
		on  bool
	}{
		{"monitoring.serviceMonitor.enabled", m.ServiceMonitor.Enabled},
		{"monitoring.prometheusRules.enabled", m.PrometheusRules.Enabled},
		{"monitoring.grafanaDashboard.enabled", m.GrafanaDashboard.Enabled},
	} {
		if x.on && !m.Enabled {
			p.add(x.key, "is true while monitoring.enabled is false", "set monitoring.enabled=true, or set "+x.key+"=false")
		}
	}

	const sk = "monitoring.serviceMonitor"
	sm := m.ServiceMonitor
	if sm.ScrapeKey.IsSet() && sm.BearerTokenSecret.Name != "" {
		p.add(sk+".scrapeKey", "is set together with bearerTokenSecret, so which key Prometheus presents is ambiguous",
			"remove scrapeKey to use your Secret, or remove bearerTokenSecret to have the program provision the key")
	}
	if m.PrometheusRules.RunbookURL != "" {
		checkURL(p, "monitoring.prometheusRules.runbookURL", m.PrometheusRules.RunbookURL, false, "https://wiki.example.com/certctl/alerts", "https", "http")
	}
	interval, okI := checkPromDuration(p, sk+".interval", sm.Interval)
	timeout, okT := checkPromDuration(p, sk+".scrapeTimeout", sm.ScrapeTimeout)
	if okI && okT && timeout > interval {
		p.addf(sk+".scrapeTimeout", "set it to at most "+sk+".interval", "%q is longer than the interval %q", sm.ScrapeTimeout, sm.Interval)
	}
	checkLabels(p, sk+".labels", sm.Labels)
	checkSecretKeyRef(p, sk+".bearerTokenSecret", sm.BearerTokenSecret)
	checkSecretKeyRef(p, sk+".tlsConfig.ca", sm.TLSConfig.CA)
	if sm.TLSConfig.CAFile != "" {
		checkAbsPath(p, sk+".tlsConfig.caFile", sm.TLSConfig.CAFile)
		if sm.TLSConfig.CA.Name != "" {
			p.add(sk+".tlsConfig.caFile", "is set together with tlsConfig.ca", "keep one of caFile and ca")
		}
	}
	for i, r := range sm.Relabelings {
		k := index(sk+".relabelings", i)
		action := strings.ToLower(r.Action)
		switch {
		case action != "" && !slices.Contains(relabelActions, action):
			p.addf(k+".action", "use one of: "+strings.Join(relabelActions, ", "), "%q is not a Prometheus relabel action", r.Action)
		case action == "hashmod":
			// Prometheus refuses hashmod without a modulus, which this config cannot carry.
			p.add(k+".action", "hashmod needs a modulus, which relabelings here cannot set", "use another action")
		case slices.Contains([]string{"", "replace", "lowercase", "uppercase", "keepequal", "dropequal"}, action) && r.TargetLabel == "":
			p.add(k+".targetLabel", "is empty, which Prometheus refuses for this action", "set the label to write")
		}
		if r.Regex != "" {
			if _, err := regexp.Compile(r.Regex); err != nil {
				p.addf(k+".regex", "use an RE2 regular expression", "%q does not compile", r.Regex)
			}
		}
	}

	const rk = "monitoring.prometheusRules"
	pr := m.PrometheusRules
	checkLabels(p, rk+".labels", pr.Labels)
	checkLabels(p, "monitoring.grafanaDashboard.labels", m.GrafanaDashboard.Labels)
	th := pr.Thresholds
	checkPromDuration(p, rk+".interval", pr.Interval)
	atLeast(p, rk+".thresholds.expiringCertificateCount", th.ExpiringCertificateCount, 0)
	atLeast(p, rk+".thresholds.offlineAgentCount", th.OfflineAgentCount, 0)
	if !(th.JobFailureRate > 0 && th.JobFailureRate <= 1) {
		p.addf(rk+".thresholds.jobFailureRate", "use a share above 0 and at most 1, e.g. 0.05 for 5%", "%v is outside (0, 1]", th.JobFailureRate)
	}
	if th.IssuanceFailureRate < 0 {
		p.addf(rk+".thresholds.issuanceFailureRate", "use 0 (any failure) or a positive rate per second", "%v is negative", th.IssuanceFailureRate)
	}
	checkPromDuration(p, rk+".thresholds.expiringCertificateFor", th.ExpiringCertificateFor)
	checkPromDuration(p, rk+".thresholds.offlineAgentFor", th.OfflineAgentFor)
	checkPromDuration(p, rk+".thresholds.jobFailureRateFor", th.JobFailureRateFor)
	checkPromDuration(p, rk+".thresholds.issuanceFailureFor", th.IssuanceFailureFor)
	if !(th.DatabaseVolumeFreeRatio > 0 && th.DatabaseVolumeFreeRatio < 1) {
		p.addf(rk+".thresholds.databaseVolumeFreeRatio", "use a share above 0 and below 1, e.g. 0.15 for 15% free", "%v is outside (0, 1)", th.DatabaseVolumeFreeRatio)
	}
	checkPromDuration(p, rk+".thresholds.databaseVolumeFullWithin", th.DatabaseVolumeFullWithin)
	checkPromDuration(p, rk+".thresholds.databaseVolumeFor", th.DatabaseVolumeFor)
}

func validateBackup(p *problems, c Config) {
	b := c.Backup
	if b.Enabled && c.InCluster() {
		p.add("backup.enabled", "takes a nightly pg_dump, but postgresql.cluster archives every WAL segment and takes base backups itself",
			"set backup.enabled=false and postgresql.cluster.backup.enabled=true (its archive goes to backup.s3's bucket)")
	}
	if b.Enabled && !c.PostgreSQL.Enabled {
		p.add("backup.enabled", "backs up the bundled Postgres only, but postgresql.enabled is false (an external database is backed up by its provider, with point-in-time recovery)",
			"use your managed database's backups and point-in-time recovery, and set backup.enabled=false")
	}
	if strings.HasPrefix(b.Schedule, "TZ=") || strings.HasPrefix(b.Schedule, "CRON_TZ=") {
		p.add("backup.schedule", "sets a time zone, which Kubernetes refuses in a CronJob schedule", "remove the TZ= prefix (the schedule runs in the controller's time zone)")
	} else if _, err := cron.ParseStandard(b.Schedule); err != nil {
		p.addf("backup.schedule", `use a five-field cron expression such as "30 2 * * *" or a macro such as "@daily"`, "%q is not a cron schedule: %v", b.Schedule, err)
	}
	oneOf(p, "backup.sink", b.Sink, BackupSinkPVC, BackupSinkS3)
	atLeast(p, "backup.successfulJobsHistoryLimit", b.SuccessfulJobsHistoryLimit, 0)
	atLeast(p, "backup.failedJobsHistoryLimit", b.FailedJobsHistoryLimit, 0)
	atLeast(p, "backup.startingDeadlineSeconds", b.StartingDeadlineSeconds, 1)
	atLeast(p, "backup.backoffLimit", b.BackoffLimit, 0)
	atLeast(p, "backup.activeDeadlineSeconds", b.ActiveDeadlineSeconds, 1)
	checkWorkloadOverride(p, "backup", b.Workload, c.PostgreSQL.Image)

	checkSize(p, "backup.pvc.size", b.PVC.Size)
	checkOptionalName(p, "backup.pvc.storageClass", b.PVC.StorageClass, dnsSubdomain)
	checkOptionalName(p, "backup.pvc.existingClaim", b.PVC.ExistingClaim, dnsSubdomain)
	atLeast(p, "backup.pvc.keepLast", b.PVC.KeepLast, 1)
	validateBackupS3(p, b.S3, c.UsesBucket())
}

// validateBackupS3 checks the S3 sink's keys; required ones only when the sink is in use.
func validateBackupS3(p *problems, s3 BackupS3, inUse bool) {
	if inUse && !s3.Create && s3.Bucket == "" {
		p.add("backup.s3.bucket", "is empty while backup.s3.create is false, so there is nowhere to upload",
			"set it to an existing bucket, or set backup.s3.create=true")
	}
	if problem := bucketNameProblem(s3.Bucket, s3.Endpoint == ""); s3.Bucket != "" && problem != "" {
		p.addf("backup.s3.bucket", "use 3 to 63 lowercase letters, digits, '.' or '-', starting and ending with a letter or digit, as AWS's bucket naming rules say",
			"%q is not a valid S3 bucket name: it %s", s3.Bucket, problem)
	}
	if strings.HasPrefix(s3.Prefix, "/") {
		p.addf("backup.s3.prefix", `remove the leading "/" (e.g. "certctl/")`, "%q starts with /, which S3 keeps as an empty path segment", s3.Prefix)
	}
	validRegion := checkRegion(p, "backup.s3.region", s3.Region)
	if inUse && s3.Region == "" && s3.Endpoint == "" {
		p.add("backup.s3.region", "is empty, so neither the AWS provider nor the uploader knows where the bucket is", `set it to the bucket's region, e.g. "eu-west-1"`)
	}
	if s3.Endpoint != "" {
		checkURL(p, "backup.s3.endpoint", s3.Endpoint, false, "https://minio.example.com:9000", "https", "http")
		if inUse && s3.Create {
			p.add("backup.s3.create", "is true with backup.s3.endpoint set, but the program builds buckets on AWS S3 only",
				"set backup.s3.create=false and name the existing bucket in backup.s3.bucket")
		}
		if inUse && s3.Credentials != BackupCredentialsExistingSecret {
			p.addf("backup.s3.credentials", "set it to existingSecret and store the store's access key in backup.s3.credentialsSecret",
				"is %q, but an S3-compatible endpoint takes an access key only", s3.Credentials)
		}
	}
	checkImage(p, "backup.s3.uploaderImage", s3.UploaderImage)
	atLeast(p, "backup.s3.retentionDays", s3.RetentionDays, 1)
	region := ""
	if validRegion {
		region = s3.Region
	}
	checkARN(p, "backup.s3.kmsKeyId", s3.KMSKeyID, kmsKeyARN, region)
	checkARN(p, "backup.s3.irsaRoleArn", s3.IRSARoleArn, iamRoleARN, region)
	checkARN(p, "backup.s3.oidcProviderArn", s3.OIDCProviderArn, oidcProviderARN, region)
	if inUse {
		validateBackupCredentials(p, s3)
	}
}

// validateBackupCredentials requires exactly the settings the chosen credentials need.
func validateBackupCredentials(p *problems, s3 BackupS3) {
	creds := []string{BackupCredentialsIRSA, BackupCredentialsPodIdentity, BackupCredentialsIAMUser, BackupCredentialsExistingSecret}
	if s3.Credentials == "" {
		p.add("backup.s3.credentials", "is empty, so the uploader has no way to authenticate",
			"set it to one of: "+strings.Join(creds, ", ")+" (see the README's backup section)")
		return
	}
	if !oneOf(p, "backup.s3.credentials", s3.Credentials, creds...) {
		return
	}
	switch s3.Credentials {
	case BackupCredentialsIRSA:
		if (s3.IRSARoleArn == "") == (s3.OIDCProviderArn == "") {
			p.add("backup.s3.irsaRoleArn", "and backup.s3.oidcProviderArn must be set one at a time with credentials=irsa",
				"set backup.s3.oidcProviderArn to have the program build the role, or backup.s3.irsaRoleArn to use your own")
		}
	case BackupCredentialsPodIdentity:
		checkName(p, "backup.s3.eksClusterName", s3.EKSClusterName, dnsSubdomain)
	case BackupCredentialsExistingSecret:
		cs := s3.CredentialsSecret
		checkName(p, "backup.s3.credentialsSecret.name", cs.Name, dnsSubdomain)
		checkName(p, "backup.s3.credentialsSecret.accessKeyIdKey", cs.AccessKeyIDKey, secretKey)
		checkName(p, "backup.s3.credentialsSecret.secretAccessKeyKey", cs.SecretAccessKeyKey, secretKey)
	}
}

func validateMigrations(p *problems, c Config) {
	checkWorkloadOverride(p, "migrations", c.Migrations.Workload, c.Server.Image)
	atLeast(p, "migrations.backoffLimit", c.Migrations.BackoffLimit, 0)
	atLeast(p, "migrations.activeDeadlineSeconds", c.Migrations.ActiveDeadlineSeconds, 1)
}
