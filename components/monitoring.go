package components

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	componentMonitoring = "monitoring"
	// metricsPath is where v2.1.7 serves Prometheus text (bearer key with metrics.read).
	metricsPath = "/api/v1/metrics/prometheus"
	// keyScrapeKey is the key of the scrape-key Secret.
	keyScrapeKey = "api-key"
)

// MonitoringArgs is what NewMonitoring is given: the object names, the monitoring section, the
// server's endpoint and the scrape key the program provisions.
type MonitoringArgs struct {
	Release    Release
	Names      config.Names
	Monitoring config.Monitoring
	Server     ServerEndpoint
	// ScrapeKey is the provisioned scrape key; unset when the user names their own Secret.
	ScrapeKey pulumi.StringOutput
	// Namespace is the release's namespace, for queries of the kubelet's per-claim metrics.
	Namespace string
	// DatabaseClaims matches the database's volume claims (RE2); empty when the program runs no
	// database, whose volume is then not its to watch.
	DatabaseClaims string
}

// Monitoring scrapes the server (ServiceMonitor, with the program's own scrape key, over HTTPS
// verified against the server's CA), alerts on its metrics (PrometheusRule) and shows them
// (a Grafana dashboard ConfigMap).
type Monitoring struct {
	pulumi.ResourceState

	// ScrapeKeySecretName is the Secret holding the scrape key, when the program provisions it.
	ScrapeKeySecretName pulumi.StringOutput `pulumi:"scrapeKeySecretName"`
}

// NewMonitoring registers a certctl:index:Monitoring component with what is enabled of the
// ServiceMonitor (and its scrape-key Secret, unless the user names one), the PrometheusRule and
// the Grafana dashboard ConfigMap. It returns the component with the scrape-key Secret's name.
func NewMonitoring(ctx *pulumi.Context, name string, args *MonitoringArgs, opts ...pulumi.ResourceOption) (*Monitoring, error) {
	if args == nil || args.Names.Server == "" {
		return nil, fmt.Errorf("monitoring %q: Names are required", name)
	}
	m := &Monitoring{}
	if err := ctx.RegisterComponentResource("certctl:index:Monitoring", name, m, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(m)
	mon := args.Monitoring

	if mon.ServiceMonitor.Enabled {
		credentials := mon.ServiceMonitor.BearerTokenSecret
		var deps []pulumi.Resource
		if credentials.Name == "" {
			secret, err := corev1.NewSecret(ctx, name+"-scrape-key", &corev1.SecretArgs{
				Metadata:   args.Release.objectMeta(args.Names.Metrics, componentMonitoring, nil),
				Type:       pulumi.String("Opaque"),
				StringData: pulumi.StringMap{keyScrapeKey: args.ScrapeKey},
			}, child)
			if err != nil {
				return nil, err
			}
			credentials = config.SecretKeyRef{Name: args.Names.Metrics, Key: keyScrapeKey}
			deps = append(deps, secret)
			m.ScrapeKeySecretName = secret.Metadata.Name().Elem()
		}
		if _, err := apiextensions.NewCustomResource(ctx, name, serviceMonitorArgs(args, credentials), child, pulumi.DependsOn(deps)); err != nil {
			return nil, err
		}
	}
	if mon.PrometheusRules.Enabled {
		if _, err := apiextensions.NewCustomResource(ctx, name+"-rules", prometheusRuleArgs(args), child); err != nil {
			return nil, err
		}
	}
	if mon.GrafanaDashboard.Enabled {
		dashboard, err := dashboardConfigMapArgs(args)
		if err != nil {
			return nil, err
		}
		if _, err := corev1.NewConfigMap(ctx, name+"-dashboard", dashboard, child); err != nil {
			return nil, err
		}
	}
	return m, ctx.RegisterResourceOutputs(m, pulumi.Map{"scrapeKeySecretName": m.ScrapeKeySecretName})
}

// serviceMonitorArgs scrapes the server Service's https port with the scrape key in the
// authorization field (bearerTokenSecret is deprecated), verifying the server's certificate
// against the CA in its TLS Secret, for the Service's own name.
func serviceMonitorArgs(a *MonitoringArgs, credentials config.SecretKeyRef) *apiextensions.CustomResourceArgs {
	sm := a.Monitoring.ServiceMonitor
	endpoint := pulumi.Map{
		"port":          pulumi.String(portNameHTTPS),
		"scheme":        pulumi.String("https"),
		"path":          pulumi.String(metricsPath),
		"interval":      pulumi.String(sm.Interval),
		"scrapeTimeout": pulumi.String(sm.ScrapeTimeout),
		"authorization": pulumi.Map{
			"type":        pulumi.String("Bearer"),
			"credentials": pulumi.Map{"name": pulumi.String(credentials.Name), "key": pulumi.String(credentials.Key)},
		},
		"tlsConfig": scrapeTLS(a, sm.TLSConfig),
	}
	if len(sm.Relabelings) > 0 {
		var relabelings pulumi.Array
		for _, r := range sm.Relabelings {
			relabelings = append(relabelings, relabeling(r))
		}
		endpoint["relabelings"] = relabelings
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("ServiceMonitor"),
		Metadata:   metaWithLabels(a.Release.objectMeta(a.Names.Server, componentMonitoring, nil), a.Release, componentMonitoring, sm.Labels),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"selector":  pulumi.Map{"matchLabels": pulumi.ToStringMap(a.Release.selectorLabels(componentServer))},
			"endpoints": pulumi.Array{endpoint},
		}},
	}
}

// scrapeTLS verifies by default: the CA is the server TLS Secret's ca.crt (or the Secret the user
// names), the name the Service name every server certificate holds.
func scrapeTLS(a *MonitoringArgs, t config.ScrapeTLS) pulumi.Map {
	if t.InsecureSkipVerify {
		return pulumi.Map{"insecureSkipVerify": pulumi.Bool(true)}
	}
	serverName := t.ServerName
	if serverName == "" {
		serverName = a.Names.Server
	}
	tls := pulumi.Map{"serverName": pulumi.String(serverName)}
	switch {
	case t.CAFile != "":
		tls["caFile"] = pulumi.String(t.CAFile)
	case t.CA.Name != "":
		tls["ca"] = pulumi.Map{"secret": pulumi.Map{"name": pulumi.String(t.CA.Name), "key": pulumi.String(t.CA.Key)}}
	default:
		tls["ca"] = pulumi.Map{"secret": pulumi.Map{"name": pulumi.String(a.Server.TLSSecret), "key": pulumi.String("ca.crt")}}
	}
	return tls
}

func relabeling(r config.RelabelConfig) pulumi.Map {
	out := pulumi.Map{}
	for k, v := range map[string]string{
		"separator": r.Separator, "targetLabel": r.TargetLabel, "regex": r.Regex, "replacement": r.Replacement, "action": r.Action,
	} {
		if v != "" {
			out[k] = pulumi.String(v)
		}
	}
	if len(r.SourceLabels) > 0 {
		out["sourceLabels"] = pulumi.ToStringArray(r.SourceLabels)
	}
	return out
}

// metaWithLabels adds the user's selector labels (serviceMonitorSelector, ruleSelector) to an
// object's labels; the program's own win.
func metaWithLabels(m *metav1.ObjectMetaArgs, r Release, component string, extra map[string]string) *metav1.ObjectMetaArgs {
	m.Labels = pulumi.ToStringMap(mergeMaps(extra, r.labels(component)))
	return m
}

// perInstallation takes a database-snapshot metric once per certctl installation: every server
// replica reports the same value, and upstream's per-series rules fire once per replica.
func perInstallation(expr string) string {
	return "max by (namespace, job) (" + expr + ")"
}

// agentsOffline counts the registered agents without a recent heartbeat that should have one:
// certctl counts among its agents the ones the server itself registers for server-side discovery
// (sentinels such as the network scanner), which never heartbeat, so they are taken off.
func agentsOffline(sentinels int) string {
	expr := perInstallation("certctl_agent_total") + " - " + perInstallation("certctl_agent_online")
	if sentinels > 0 {
		expr += " - " + strconv.Itoa(sentinels)
	}
	return expr
}

// jobFailureShare is the share of the jobs finished in 15 minutes that failed; no jobs is no value.
var jobFailureShare = fmt.Sprintf("%[1]s / (%[1]s + %[2]s)",
	perInstallation("increase(certctl_job_failed_total[15m])"), perInstallation("increase(certctl_job_completed_total[15m])"))

// alertRule is one alert of the PrometheusRule.
type alertRule struct {
	name, expr, forDuration, component, summary, description string
}

// alertRules are upstream's four alerts (deploy/helm/certctl/templates/prometheusrules.yaml) with
// the thresholds from config, stated in the text instead of hard-coded, and a failure-rate
// expression that stays silent without jobs (upstream's clamp_min(..., 1) blurs the ratio below
// one job per second), each firing once per installation rather than once per server replica;
// and, with a database volume to watch, that volume filling (certctl never purges its audit
// trail: docs/sizing.md).
func alertRules(a *MonitoringArgs) []alertRule {
	th, sentinels := a.Monitoring.PrometheusRules.Thresholds, a.Server.SentinelAgents
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	rules := []alertRule{
		{
			name:        "CertctlCertificateExpiringSoon",
			expr:        fmt.Sprintf("%s > %d", perInstallation("certctl_certificate_expiring_soon"), th.ExpiringCertificateCount),
			forDuration: th.ExpiringCertificateFor, component: "certctl",
			summary: "Certificates managed by certctl expire within 30 days",
			description: fmt.Sprintf("{{ $value }} certificates expire within 30 days (alert above %d for %s): renew them or check why the renewal jobs fail.",
				th.ExpiringCertificateCount, th.ExpiringCertificateFor),
		},
		{
			name:        "CertctlAgentOffline",
			expr:        fmt.Sprintf("(%s) > %d", agentsOffline(sentinels), th.OfflineAgentCount),
			forDuration: th.OfflineAgentFor, component: "certctl-agent",
			summary: "certctl agents are offline",
			description: fmt.Sprintf("{{ $value }} agents sent no heartbeat for 5 minutes (alert above %d for %s): their nodes get no certificate deployments.",
				th.OfflineAgentCount, th.OfflineAgentFor),
		},
		{
			name:        "CertctlJobFailureRateHigh",
			expr:        fmt.Sprintf("%s > %s", jobFailureShare, f(th.JobFailureRate)),
			forDuration: th.JobFailureRateFor, component: "certctl",
			summary: "certctl jobs fail",
			description: fmt.Sprintf("{{ $value | humanizePercentage }} of the jobs finished in 15 minutes failed (alert above %s for %s).",
				f(th.JobFailureRate), th.JobFailureRateFor),
		},
		{
			name:        "CertctlIssuanceFailures",
			expr:        fmt.Sprintf("sum by (namespace, job) (rate(certctl_issuance_failures_total[15m])) > %s", f(th.IssuanceFailureRate)),
			forDuration: th.IssuanceFailureFor, component: "certctl",
			summary: "certctl fails to issue certificates",
			description: fmt.Sprintf("Issuance fails at {{ $value }} per second (alert above %s for %s): check the issuer's credentials and reachability.",
				f(th.IssuanceFailureRate), th.IssuanceFailureFor),
		},
	}
	if a.DatabaseClaims != "" {
		rules = append(rules, alertRule{
			name: "CertctlDatabaseVolumeFilling", expr: databaseVolumeFilling(a.Namespace, a.DatabaseClaims, th),
			forDuration: th.DatabaseVolumeFor, component: componentPostgres,
			summary: "certctl's database volume is filling",
			description: fmt.Sprintf("{{ $labels.persistentvolumeclaim }} has {{ $value | humanizePercentage }} free (alert below %s free, or full within %s at the last 6 hours' rate, for %s): the audit trail grows with every agent request and is never purged.",
				f(th.DatabaseVolumeFreeRatio), th.DatabaseVolumeFullWithin, th.DatabaseVolumeFor),
		})
	}
	return rules
}

// databaseVolumeFilling is the free share of each database claim (kubelet volume stats) when it
// is below the threshold or, at the last 6 hours' rate, reaches zero within the horizon.
func databaseVolumeFilling(namespace, claims string, th config.AlertThresholds) string {
	within, _ := config.PrometheusDuration(th.DatabaseVolumeFullWithin) // validated by config
	stat := func(metric string) string {
		return fmt.Sprintf(`max by (namespace, persistentvolumeclaim) (%s{namespace=%q, persistentvolumeclaim=~%q})`, metric, namespace, claims)
	}
	free := stat("kubelet_volume_stats_available_bytes") + " / " + stat("kubelet_volume_stats_capacity_bytes")
	filling := fmt.Sprintf(`max by (namespace, persistentvolumeclaim) (predict_linear(kubelet_volume_stats_available_bytes{namespace=%q, persistentvolumeclaim=~%q}[6h], %d)) < 0`,
		namespace, claims, int64(within.Seconds()))
	return fmt.Sprintf("(%[1]s) < %[2]s or ((%[1]s) and on (namespace, persistentvolumeclaim) (%[3]s))",
		free, strconv.FormatFloat(th.DatabaseVolumeFreeRatio, 'g', -1, 64), filling)
}

func prometheusRuleArgs(a *MonitoringArgs) *apiextensions.CustomResourceArgs {
	pr := a.Monitoring.PrometheusRules
	var rules pulumi.Array
	for _, r := range alertRules(a) {
		rules = append(rules, pulumi.Map{
			"alert":  pulumi.String(r.name),
			"expr":   pulumi.String(r.expr),
			"for":    pulumi.String(r.forDuration),
			"labels": pulumi.StringMap{"severity": pulumi.String("warning"), "component": pulumi.String(r.component)},
			"annotations": pulumi.StringMap{
				"summary":     pulumi.String(r.summary),
				"description": pulumi.String(r.description),
				"runbook_url": pulumi.String(pr.RunbookURL + "#" + strings.ToLower(r.name)),
			},
		})
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("monitoring.coreos.com/v1"),
		Kind:       pulumi.String("PrometheusRule"),
		Metadata:   metaWithLabels(a.Release.objectMeta(a.Names.Rules, componentMonitoring, nil), a.Release, componentMonitoring, pr.Labels),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"groups": pulumi.Array{pulumi.Map{"name": pulumi.String("certctl.alerts"), "interval": pulumi.String(pr.Interval), "rules": rules}},
		}},
	}
}
