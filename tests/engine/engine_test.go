// Package engine runs the real Pulumi engine (CLI, Go language host, kubernetes, random and tls
// plugins from ../shared/toolchain) on the project's stacks against a simulated cluster
// (tests/cluster): what only the engine decides (awaits, diffs against what the API server
// stores, no-op updates) is tested here, not under mocks.
package engine

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optrefresh"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// TestDevStack: the dev stack, as its file says to deploy it (namespace and TLS Secret first),
// goes up on the real engine, every object is in the API server, a preview right after expects
// no changes and so do a second pulumi up and a refresh, a one-key change does exactly what its
// preview says, a key rotation survives re-runs and --target, and a destroy leaves what the
// README says it keeps.
func TestDevStack(t *testing.T) {
	pulumiBin := cluster.PulumiBinaries(t)
	c := cluster.Start(t, cluster.Options{Nodes: 3})
	const ns = "certctl-dev"
	kubectl(t, c, "create", "namespace", ns)
	kubectl(t, c, "label", "namespace", ns, "pod-security.kubernetes.io/enforce=restricted")
	c.Apply(t, tlsSecretYAML(t, ns, "certctl-tls", "certctl-server", "certctl-server."+ns+".svc", "certctl-server."+ns+".svc.cluster.local"))
	c.CreatePV(t, "engine-postgres", "10Gi")

	ctx := context.Background()
	stack := newStack(t, ctx, pulumiBin, "dev", c.Kubeconfig)
	out := &logWriter{t: t}

	up(t, ctx, stack, out)
	for _, obj := range []string{
		"deployment/certctl-server", "service/certctl-server", "configmap/certctl-server", "secret/certctl-server",
		"statefulset/certctl-postgres", "service/certctl-postgres", "secret/certctl-postgres",
		"daemonset/certctl-agent", "configmap/certctl-agent", "serviceaccount/certctl", "secret/certctl-ca",
	} {
		_, err := c.Kubectl("-n", ns, "get", obj)
		assert.NoError(t, err, "%s is in the API server", obj)
	}

	_, err := stack.Preview(ctx, optpreview.ExpectNoChanges(), optpreview.ProgressStreams(out))
	assert.NoError(t, err, "a preview right after pulumi up expects no changes")
	again := up(t, ctx, stack, out)
	assert.Empty(t, again.changed(), "a second pulumi up changes nothing")
	_, err = stack.Refresh(ctx, optrefresh.ExpectNoChanges(), optrefresh.ProgressStreams(out))
	assert.NoError(t, err, "pulumi refresh finds the cluster as the state says")

	setConfig(t, ctx, stack, "certctl:server.replicas", "2")
	preview := newStepLog()
	_, err = stack.Preview(ctx, optpreview.EventStreams(preview.events), optpreview.ProgressStreams(out))
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"update ConfigMap certctl-server", "update Deployment certctl-server"}, preview.wait().changed(),
		"server.replicas changes the Deployment and, with more than one replica, the rate-limit backend in the ConfigMap")
	scaled := up(t, ctx, stack, out)
	assert.ElementsMatch(t, preview.changed(), scaled.changed(), "the update does what the preview said")
	replicas, err := c.Kubectl("-n", ns, "get", "deployment/certctl-server", "-o", "jsonpath={.status.readyReplicas}")
	require.NoError(t, err)
	assert.Equal(t, "2", replicas)

	checkRotation(t, ctx, c, stack, ns, out)

	_, err = stack.Destroy(ctx, optdestroy.ProgressStreams(out))
	require.NoError(t, err, "pulumi destroy")
	left, err := c.Kubectl("-n", ns, "get", "deployment,statefulset,daemonset,configmap,service", "-o", "name")
	require.NoError(t, err)
	assert.NotContains(t, left, "certctl", "pulumi destroy removes the workloads and their settings")
	claims, err := c.Kubectl("-n", ns, "get", "pvc", "-o", "name")
	require.NoError(t, err)
	assert.Contains(t, claims, "data-certctl-postgres-0", "the Postgres claim survives pulumi destroy")
}

// checkRotation rotates the agents' key and proves that only configuration ends the overlap: a
// rotating update that fails part-way, the re-run after it, an update with --target on something
// else and a plain re-run all keep the previous key accepted,
// the agents' own Secret changes only after the server Deployment has rolled, and the old key
// goes only with agentApiKeyRotationDone.
func checkRotation(t *testing.T, ctx context.Context, c *cluster.Cluster, stack auto.Stack, ns string, out io.Writer) {
	t.Helper()
	agentsAccepted := func() int {
		named := secretKey(t, c, ns, "certctl-server", "api-keys-named")
		return strings.Count(","+named, ",agents:")
	}
	oldKey := secretKey(t, c, ns, "certctl-agent", "agent-api-key")
	setConfig(t, ctx, stack, "certctl:server.auth.agentApiKeyRotation", "1")
	// The rotating update fails part-way: the agents' pods take 30 s to become ready and
	// pulumi up waits 10 s for them.
	setConfig(t, ctx, stack, "certctl:agent.rolloutTimeout", "10s")
	setConfig(t, ctx, stack, `certctl:agent.podAnnotations["pod-ready.stage.kwok.x-k8s.io/delay"]`, "30s")
	failed := newStepLog()
	_, err := stack.Up(ctx, optup.EventStreams(failed.events), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	require.Error(t, err, "the agents' rollout outlasts agent.rolloutTimeout")
	require.Contains(t, err.Error(), "DaemonSet", "the update fails at the agents, not before")
	failed.wait()
	newKey := secretKey(t, c, ns, "certctl-agent", "agent-api-key")
	assert.NotEqual(t, oldKey, newKey, "the agents move to the new key")
	assert.Equal(t, 2, agentsAccepted(), "after a failed update the server accepts the new key and the old one")
	assert.Less(t, failed.finished("Deployment certctl-server"), failed.started("Secret certctl-agent"),
		"the agents' Secret changes only after every server replica accepts the new key")

	require.NoError(t, stack.RemoveConfig(ctx, "certctl:agent"))
	rotating := up(t, ctx, stack, out)
	assert.Equal(t, 2, agentsAccepted(), "the re-run after the failure keeps the overlap")

	configMap := rotating.urn(t, "ConfigMap certctl-agent")
	_, err = stack.Up(ctx, optup.Target([]string{configMap}), optup.ProgressStreams(out))
	require.NoError(t, err, "pulumi up --target")
	assert.Equal(t, 2, agentsAccepted(), "a targeted update of something else keeps the overlap")
	up(t, ctx, stack, out)
	assert.Equal(t, 2, agentsAccepted(), "so does a plain re-run: nothing but configuration ends it")

	setConfig(t, ctx, stack, "certctl:server.auth.agentApiKeyRotationDone", "1")
	done := up(t, ctx, stack, out)
	assert.Equal(t, 1, agentsAccepted(), "the old key goes when the rotation is done")
	assert.NotContains(t, done.changed(), "update DaemonSet certctl-agent", "ending the overlap does not roll the agents")
	assert.Equal(t, newKey, secretKey(t, c, ns, "certctl-agent", "agent-api-key"))
}

// up runs pulumi up, which must succeed, and returns its steps.
func up(t *testing.T, ctx context.Context, stack auto.Stack, out io.Writer) *stepLog {
	t.Helper()
	log := newStepLog()
	res, err := stack.Up(ctx, optup.EventStreams(log.events), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	require.NoError(t, err, "pulumi up")
	require.Equal(t, "succeeded", res.Summary.Result)
	return log.wait()
}

func setConfig(t *testing.T, ctx context.Context, stack auto.Stack, key, value string) {
	t.Helper()
	require.NoError(t, stack.SetConfigWithOptions(ctx, key, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true}))
}

// secretKey is one key of a Secret in the cluster, decoded.
func secretKey(t *testing.T, c *cluster.Cluster, ns, name, key string) string {
	t.Helper()
	v, err := c.Kubectl("-n", ns, "get", "secret", name, "-o", "jsonpath={.data."+strings.ReplaceAll(key, ".", `\.`)+"}")
	require.NoError(t, err, "%s/%s", name, key)
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
	require.NoError(t, err)
	return string(b)
}

// stepLog collects an operation's engine events: the steps, in the order the engine started and
// finished them, named "<Kind> <name>" (Kubernetes objects) or by their URN's last part.
type stepLog struct {
	events chan events.EngineEvent
	done   chan struct{}
	// order is every step event: "start <step>" or "finish <step>"; ops and urns by step.
	order []string
	ops   map[string]string
	urns  map[string]string
}

func newStepLog() *stepLog {
	l := &stepLog{events: make(chan events.EngineEvent), done: make(chan struct{}), ops: map[string]string{}, urns: map[string]string{}}
	go func() {
		defer close(l.done)
		for e := range l.events {
			switch {
			case e.ResourcePreEvent != nil:
				l.record("start", e.ResourcePreEvent.Metadata)
			case e.ResOutputsEvent != nil:
				l.record("finish", e.ResOutputsEvent.Metadata)
			}
		}
	}()
	return l
}

func (l *stepLog) record(phase string, m apitype.StepEventMetadata) {
	name := m.URN[strings.LastIndex(m.URN, "::")+2:]
	if kind, ok := strings.CutPrefix(m.Type, "kubernetes:"); ok {
		name = kind[strings.LastIndex(kind, ":")+1:] + " " + name
	}
	l.order = append(l.order, phase+" "+name)
	l.ops[name], l.urns[name] = string(m.Op), m.URN
}

// wait waits for the operation's last event; the Automation API closes the stream only once the
// CLI has connected to it, so an operation that failed before that has no events.
func (l *stepLog) wait() *stepLog {
	select {
	case <-l.done:
	case <-time.After(time.Minute):
	}
	return l
}

// changed are the steps that change something, as "<op> <step>".
func (l *stepLog) changed() []string {
	var out []string
	for name, op := range l.ops {
		if op != string(apitype.OpSame) && op != string(apitype.OpRead) {
			out = append(out, op+" "+name)
		}
	}
	return out
}

// started and finished are a step's positions in the event order (-1: not seen).
func (l *stepLog) started(step string) int  { return slices.Index(l.order, "start "+step) }
func (l *stepLog) finished(step string) int { return slices.Index(l.order, "finish "+step) }

func (l *stepLog) urn(t *testing.T, step string) string {
	t.Helper()
	urn, ok := l.urns[step]
	require.True(t, ok, "no step %s", step)
	return urn
}

// newStack is the named stack of a copy of the project, on a file backend in a temporary
// directory, with the stack file's config and the simulated cluster's kubeconfig in place of its
// context.
func newStack(t *testing.T, ctx context.Context, pulumiBin, name, kubeconfig string) auto.Stack {
	t.Helper()
	project := copyProject(t)
	home, state := t.TempDir(), t.TempDir()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(pulumiBin), SkipVersionCheck: true})
	require.NoError(t, err)
	env := map[string]string{
		"PATH":                     pulumiBin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"PULUMI_HOME":              home,
		"PULUMI_BACKEND_URL":       "file://" + state,
		"PULUMI_CONFIG_PASSPHRASE": "engine-test",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}
	stack, err := auto.UpsertStackLocalSource(ctx, name, project, auto.Pulumi(cmd), auto.EnvVars(env), auto.SecretsProvider("passphrase"))
	require.NoError(t, err)
	require.NoError(t, stack.SetConfig(ctx, "kubernetes:kubeconfig", auto.ConfigValue{Value: kubeconfig}))
	require.NoError(t, stack.RemoveConfig(ctx, "kubernetes:context"))
	return stack
}

// copyProject copies the project's tracked files into a temporary directory, so a test's stack
// files and state never touch the checkout.
func copyProject(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	files, err := exec.Command("git", "-C", root, "ls-files").Output()
	require.NoError(t, err, "listing the project's files")
	dir := filepath.Join(t.TempDir(), "certctl-pulumi")
	for _, f := range strings.Fields(string(files)) {
		src, dst := filepath.Join(root, f), filepath.Join(dir, f)
		b, err := os.ReadFile(src)
		if os.IsNotExist(err) {
			continue // deleted in the working tree
		}
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Dir(dst), 0o755))
		require.NoError(t, os.WriteFile(dst, b, 0o644))
	}
	return dir
}

func kubectl(t *testing.T, c *cluster.Cluster, args ...string) {
	t.Helper()
	out, err := c.Kubectl(args...)
	require.NoError(t, err, "kubectl %v: %s", args, out)
}

// tlsSecretYAML is a kubernetes.io/tls Secret for names, issued by a throwaway CA that is also its
// ca.crt, as the dev stack's file says to create it.
func tlsSecretYAML(t *testing.T, ns, name string, names ...string) string {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "engine test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, ca, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	indent := func(s string) string { return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ") }
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: %s, namespace: %s}\nstringData:\n  tls.crt: |\n%s\n  tls.key: |\n%s\n  ca.crt: |\n%s\n",
		name, ns, indent(pemString("CERTIFICATE", leafDER)), indent(pemString("PRIVATE KEY", keyDER)), indent(pemString("CERTIFICATE", caDER)))
}

func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// logWriter sends the engine's progress to the test log, a line at a time.
type logWriter struct {
	t    *testing.T
	line []byte
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.line = append(w.line, p...)
	for {
		i := strings.IndexByte(string(w.line), '\n')
		if i < 0 {
			return len(p), nil
		}
		w.t.Log(string(w.line[:i]))
		w.line = w.line[i+1:]
	}
}

var _ io.Writer = (*logWriter)(nil)
