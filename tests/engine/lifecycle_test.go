package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// The CRDs the stacks' custom resources need (copies of ../shared/crds'). The staging and prod
// stacks create a Certificate, and the test plays its controller; staging's ServiceMonitor and
// PrometheusRule have none. prod-cnpg's Cluster has the test play CloudNativePG's operator; its
// ScheduledBackup and ObjectStore have none (no base backup is taken, nothing is archived).
const (
	certManagerCRD     = "../testdata/crds/cert-manager.io_certificates.yaml"
	serviceMonitorCRD  = "../testdata/crds/monitoring.coreos.com_servicemonitors.yaml"
	prometheusRuleCRD  = "../testdata/crds/monitoring.coreos.com_prometheusrules.yaml"
	cnpgClusterCRD     = "../testdata/crds/postgresql.cnpg.io_clusters.yaml"
	scheduledBackupCRD = "../testdata/crds/postgresql.cnpg.io_scheduledbackups.yaml"
	objectStoreCRD     = "../testdata/crds/barmancloud.cnpg.io_objectstores.yaml"
)

// customKinds are the custom resources the program may create, by CRD.
var customKinds = []string{
	"certificates.cert-manager.io", "servicemonitors.monitoring.coreos.com", "prometheusrules.monitoring.coreos.com",
	"clusters.postgresql.cnpg.io", "scheduledbackups.postgresql.cnpg.io", "objectstores.barmancloud.cnpg.io",
}

// deployment is one stack of the tier on a simulated cluster of its own.
type deployment struct {
	t     *testing.T
	ctx   context.Context
	c     *cluster.Cluster
	stack auto.Stack
	// name is the stack's; ns the namespace its file deploys to.
	name, ns string
	out      io.Writer
}

// deploy starts a cluster, runs prepare (what the stack file says to create before the first
// pulumi up) and makes the stack, as the tier deploys it, on a copy of the project.
func deploy(t *testing.T, name, ns string, opts cluster.Options, prepare func(*cluster.Cluster)) *deployment {
	t.Helper()
	return deployProject(t, copyProject(t, name), name, ns, opts, prepare)
}

// deployProject is deploy for the project in dir, with the directories path on PATH (newStack).
func deployProject(t *testing.T, dir, name, ns string, opts cluster.Options, prepare func(*cluster.Cluster), path ...string) *deployment {
	t.Helper()
	pulumiBin := cluster.PulumiBinaries(t)
	c := cluster.Start(t, opts)
	prepare(c)
	ctx := context.Background()
	stack := newStack(t, ctx, pulumiBin, dir, name, c.Kubeconfig, path...)
	return &deployment{t: t, ctx: ctx, c: c, stack: stack, name: name, ns: ns, out: &logWriter{t: t}}
}

// scaleCheck is the lifecycle's one-key change: server.replicas to replicas, which must preview
// and apply exactly changes.
type scaleCheck struct {
	replicas int
	changes  []string
	why      string
}

// lifecycle is what every stack goes through: pulumi up from nothing, the API server's objects
// as the golden render of the same configuration, the outputs as the README describes them, a
// preview, a second pulumi up and a refresh that change nothing, a one-key change that does
// what its preview says, then day2 (the stack's Day-2 procedures), and a destroy that leaves
// exactly keeps ("<resource>/<name>" in the stack's namespace, or "namespace/<name>").
func (d *deployment) lifecycle(scale scaleCheck, day2 func(), keeps ...string) {
	t := d.t
	up(t, d.ctx, d.stack, d.out)
	d.checkObjectsMatchGolden()
	d.checkOutputs()
	d.checkSteady()

	setConfig(t, d.ctx, d.stack, "certctl:server.replicas", fmt.Sprint(scale.replicas))
	preview := newStepLog()
	_, err := d.stack.Preview(d.ctx, optpreview.EventStreams(preview.events), optpreview.ProgressStreams(d.out))
	require.NoError(t, err)
	assert.ElementsMatch(t, scale.changes, preview.wait().changed(), scale.why)
	scaled := up(t, d.ctx, d.stack, d.out)
	assert.ElementsMatch(t, preview.changed(), scaled.changed(), "the update does what the preview said")
	assert.Equal(t, fmt.Sprint(scale.replicas), d.get("deployment/certctl-server", "{.status.readyReplicas}"))

	day2()
	d.checkDestroy(keeps)
}

// checkSteady: right after an update, a preview expects no changes, a second pulumi up changes
// nothing (so no pod rolls) and a refresh finds the cluster as the state says.
func (d *deployment) checkSteady() {
	t := d.t
	_, err := d.stack.Preview(d.ctx, optpreview.ExpectNoChanges(), optpreview.ProgressStreams(d.out))
	require.NoError(t, err, "a preview right after pulumi up expects no changes")
	again := up(t, d.ctx, d.stack, d.out)
	assert.Empty(t, again.changed(), "a second pulumi up changes nothing")
	_, err = d.stack.Refresh(d.ctx, optrefresh.ExpectNoChanges(), optrefresh.ProgressStreams(d.out))
	assert.NoError(t, err, "pulumi refresh finds the cluster as the state says")
}

// checkDestroy: pulumi destroy removes every object of the stack but keeps.
func (d *deployment) checkDestroy(keeps []string) {
	t := d.t
	_, err := d.stack.Destroy(d.ctx, optdestroy.ProgressStreams(d.out))
	require.NoError(t, err, "pulumi destroy")
	assert.ElementsMatch(t, keeps, d.managedObjects(), "pulumi destroy leaves what the README says it keeps, and nothing else")
}

// managedObjects are the objects in the stack's namespace (and the namespace itself) that the
// program labels as its own, and every claim, as "<resource>/<name>".
func (d *deployment) managedObjects() []string {
	t := d.t
	kinds := "deployment,statefulset,daemonset,job,cronjob,configmap,secret,service,serviceaccount,pvc,networkpolicy,poddisruptionbudget"
	for _, crd := range customKinds {
		if _, err := d.c.Kubectl("get", "crd", crd); err == nil {
			kinds += "," + crd
		}
	}
	out, err := d.c.Kubectl("-n", d.ns, "get", kinds, "-l", "app.kubernetes.io/managed-by=pulumi", "-o", "name")
	require.NoError(t, err, out)
	objects := strings.Fields(out)
	// A StatefulSet's claims carry no labels of the program: its controller makes them.
	claims, err := d.c.Kubectl("-n", d.ns, "get", "pvc", "-o", "name")
	require.NoError(t, err, claims)
	for _, claim := range strings.Fields(claims) {
		if !slices.Contains(objects, claim) {
			objects = append(objects, claim)
		}
	}
	namespaces, err := d.c.Kubectl("get", "namespaces", "-l", "app.kubernetes.io/managed-by=pulumi", "-o", "name")
	require.NoError(t, err, namespaces)
	if slices.Contains(strings.Fields(namespaces), "namespace/"+d.ns) {
		objects = append(objects, "namespace/"+d.ns)
	}
	for i, o := range objects {
		objects[i] = shortKind(o)
	}
	return objects
}

// shortKind turns kubectl's "<resource>.<group>/<name>" into "<resource>/<name>", and spells
// claims "pvc" as the README does.
func shortKind(o string) string {
	kind, name, _ := strings.Cut(o, "/")
	kind, _, _ = strings.Cut(kind, ".")
	if kind == "persistentvolumeclaim" {
		kind = "pvc"
	}
	return kind + "/" + name
}

// get is a jsonpath of one object in the stack's namespace.
func (d *deployment) get(object, jsonpath string) string {
	d.t.Helper()
	out, err := d.c.Kubectl("-n", d.ns, "get", object, "-o", "jsonpath="+jsonpath)
	require.NoError(d.t, err, "kubectl get %s: %s", object, out)
	return strings.TrimSpace(out)
}

// outputs are the stack's outputs, secrets in the clear.
func (d *deployment) outputs() auto.OutputMap {
	d.t.Helper()
	out, err := d.stack.Outputs(d.ctx)
	require.NoError(d.t, err)
	return out
}

// checkOutputs: the outputs are the README's (every name in its table), secrets are secret, and
// each names or holds what the cluster has.
func (d *deployment) checkOutputs() {
	t := d.t
	out := d.outputs()
	documented := readmeOutputs(t)
	for name := range out {
		assert.Contains(t, documented, name, "output %s is in the README's table of stack outputs", name)
	}
	str := func(name string) string {
		v, ok := out[name]
		require.True(t, ok, "output %s", name)
		s, _ := v.Value.(string)
		return s
	}
	for _, secret := range []string{"apiKey", "agentApiKey", "agentBootstrapToken"} {
		assert.True(t, out[secret].Secret, "output %s is a secret", secret)
	}
	assert.Equal(t, d.ns, str("namespace"))
	assert.Equal(t, "certctl-server."+d.ns+".svc.cluster.local", str("serverDnsName"))
	assert.Equal(t, "https://certctl-server."+d.ns+".svc.cluster.local:8443", str("serverUrl"))
	assert.Equal(t, strings.Split(secretKey(t, d.c, d.ns, str("serverSecretName"), "api-key"), ",")[0], str("apiKey"),
		"apiKey is the newest admin key the server holds")
	assert.Equal(t, secretKey(t, d.c, d.ns, "certctl-agent", "agent-api-key"), str("agentApiKey"))
	assert.Equal(t, secretKey(t, d.c, d.ns, "certctl-agent", "bootstrap-token"), str("agentBootstrapToken"))
	assert.Equal(t, secretKey(t, d.c, d.ns, "certctl-ca", "tls.crt"), str("localCaCert"), "localCaCert is the CA the server signs with")
	d.get("secret/"+str("tlsSecretName"), "{.metadata.name}")
	d.get("secret/"+str("postgresSecretName"), "{.metadata.name}")
	for _, name := range []string{"migrationJobName", "backupCronJobName", "backupClaimName"} {
		if _, ok := out[name]; ok {
			kind := map[string]string{"migrationJobName": "job", "backupCronJobName": "cronjob", "backupClaimName": "pvc"}[name]
			d.get(kind+"/"+str(name), "{.metadata.name}")
		}
	}
	steps := str("nextSteps")
	assert.Contains(t, steps, "kubectl -n "+d.ns+" ", "nextSteps' commands name the stack's namespace")
	assert.Contains(t, steps, "pulumi --stack "+d.name, "nextSteps' pulumi commands name the stack")
}

// readmeOutputs are the output names in the README's "Stack outputs" table.
func readmeOutputs(t *testing.T) []string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(moduleRoot(t), "README.md"))
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(readme), "### Stack outputs\n")
	require.True(t, ok, "README has a Stack outputs section")
	section, _, _ = strings.Cut(section, "\n#")
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| (`[^|]+`) \\|").FindAllStringSubmatch(section, -1) {
		for _, n := range strings.Split(m[1], ",") {
			names = append(names, strings.Trim(strings.TrimSpace(n), "`"))
		}
	}
	return names
}

// playCertManager plays cert-manager's controller for the stack's Certificates while the test
// runs: it issues each one's Secret (from a throwaway CA) and sets it Ready, as cert-manager does.
func (d *deployment) playCertManager() {
	d.playController("certificates.cert-manager.io", func(name string, raw json.RawMessage) bool {
		var cert struct {
			Spec struct {
				SecretName string   `json:"secretName"`
				DNSNames   []string `json:"dnsNames"`
			}
		}
		if json.Unmarshal(raw, &cert) != nil {
			return false
		}
		if _, err := d.c.KubectlInput(tlsSecretYAML(d.ns, cert.Spec.SecretName, cert.Spec.DNSNames...), "apply", "-f", "-"); err != nil {
			return false
		}
		return d.setReady("certificates.cert-manager.io", name, "Ready", "Certificate is up to date and has not expired")
	})
}

// playController plays a controller of the custom resource (plural.group) in the stack's
// namespace while the test runs: every half second it hands each object it has not yet handled
// to act (its name and its JSON), which says whether it is done with it; act runs off the test's
// goroutine.
func (d *deployment) playController(resource string, act func(name string, raw json.RawMessage) bool) {
	ctx, cancel := context.WithCancel(d.ctx)
	done := make(chan struct{})
	d.t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		handled := map[string]bool{}
		for ctx.Err() == nil {
			time.Sleep(500 * time.Millisecond)
			out, err := d.c.Kubectl("-n", d.ns, "get", resource, "-o", "json")
			if err != nil {
				continue
			}
			var list struct{ Items []json.RawMessage }
			if json.Unmarshal([]byte(out), &list) != nil {
				continue
			}
			for _, raw := range list.Items {
				var object struct{ Metadata struct{ Name, UID string } }
				if json.Unmarshal(raw, &object) != nil || handled[object.Metadata.UID] {
					continue
				}
				handled[object.Metadata.UID] = act(object.Metadata.Name, raw)
			}
		}
	}()
}

// setReady sets a custom resource's status to its Ready condition, true for reason, as its
// controller would, and says whether the API server took it.
func (d *deployment) setReady(resource, name, reason, message string) bool {
	condition, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []map[string]string{{
		"type": "Ready", "status": "True", "reason": reason, "message": message,
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
	}}}})
	must(err)
	_, err = d.c.Kubectl("-n", d.ns, "patch", resource, name, "--subresource=status", "--type=merge", "-p", string(condition))
	return err == nil
}

// serviceNames are the names a certificate for a Service in namespace ns lists, as the stack
// files list them.
func serviceNames(service, ns string) []string {
	return []string{service, service + "." + ns + ".svc", service + "." + ns + ".svc.cluster.local"}
}

// dbURLPassword is the password in the server's database URL.
func (d *deployment) dbURLPassword() string {
	u, err := url.Parse(secretKey(d.t, d.c, d.ns, "certctl-server", "database-url"))
	require.NoError(d.t, err)
	p, _ := u.User.Password()
	return p
}

// jobs are the stack's Jobs of a component, as name → uid.
func (d *deployment) jobs(component string) map[string]string {
	d.t.Helper()
	out, err := d.c.Kubectl("-n", d.ns, "get", "jobs", "-l", "app.kubernetes.io/component="+component,
		"-o", `jsonpath={range .items[*]}{.metadata.name}={.metadata.uid}{"\n"}{end}`)
	require.NoError(d.t, err, out)
	jobs := map[string]string{}
	for _, line := range strings.Fields(out) {
		name, uid, _ := strings.Cut(line, "=")
		jobs[name] = uid
	}
	return jobs
}
