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
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
	"github.com/certctl-io/certctl-pulumi/tests/stackfile"
)

// up runs pulumi up, which must succeed, and returns its steps.
func up(t *testing.T, ctx context.Context, stack auto.Stack, out io.Writer) *stepLog {
	t.Helper()
	log := newStepLog()
	res, err := stack.Up(ctx, optup.EventStreams(log.events), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	require.NoError(t, err, "pulumi up")
	require.Equal(t, "succeeded", res.Summary.Result)
	return log.wait()
}

// setConfig sets a stack config key (a path: "certctl:server.replicas"), which must succeed.
func setConfig(t *testing.T, ctx context.Context, stack auto.Stack, key, value string) {
	t.Helper()
	require.NoError(t, stack.SetConfigWithOptions(ctx, key, auto.ConfigValue{Value: value}, &auto.ConfigOptions{Path: true}))
}

// podDelay makes kwok's stage (pod-ready, pod-complete, ...) take d for the pods of a section
// (e.g. "certctl:agent"), through its podAnnotations. Both the delay and the jitter delay are
// set: kwok waits the jitter delay (5 s unless annotated) whenever it is not above the delay.
func podDelay(t *testing.T, ctx context.Context, stack auto.Stack, section, stage, d string) {
	t.Helper()
	for _, annotation := range []string{"delay", "jitter-delay"} {
		setConfig(t, ctx, stack, fmt.Sprintf(`%s.podAnnotations["%s.stage.kwok.x-k8s.io/%s"]`, section, stage, annotation), d)
	}
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
	ops   map[string][]apitype.OpType
	urns  map[string]string
}

// newStepLog is an empty log collecting the events of the operation its events channel is given to.
func newStepLog() *stepLog {
	l := &stepLog{events: make(chan events.EngineEvent), done: make(chan struct{}), ops: map[string][]apitype.OpType{}, urns: map[string]string{}}
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

// record notes a step event of phase ("start" or "finish") under the step's name.
func (l *stepLog) record(phase string, m apitype.StepEventMetadata) {
	name := m.URN[strings.LastIndex(m.URN, "::")+2:]
	if kind, ok := strings.CutPrefix(m.Type, "kubernetes:"); ok {
		name = kind[strings.LastIndex(kind, ":")+1:] + " " + name
	}
	l.order = append(l.order, phase+" "+name)
	if phase == "start" {
		l.ops[name] = append(l.ops[name], m.Op)
	}
	l.urns[name] = m.URN
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
	for name := range l.ops {
		if op := l.op(name); op != apitype.OpSame && op != apitype.OpRead {
			out = append(out, string(op)+" "+name)
		}
	}
	return out
}

// op is what the operation did to a step: "replace" for any step of a replacement, else its
// first operation ("same", "update", ...; "" if not seen).
func (l *stepLog) op(step string) apitype.OpType {
	ops := l.ops[step]
	for _, op := range ops {
		switch op {
		case apitype.OpReplace, apitype.OpCreateReplacement, apitype.OpDeleteReplaced:
			return apitype.OpReplace
		}
	}
	if len(ops) == 0 {
		return ""
	}
	return ops[0]
}

// did says whether the operation ran op on a step.
func (l *stepLog) did(step string, op apitype.OpType) bool { return slices.Contains(l.ops[step], op) }

// started and finished are a step's positions in the event order (-1: not seen).
func (l *stepLog) started(step string) int  { return slices.Index(l.order, "start "+step) }
func (l *stepLog) finished(step string) int { return slices.Index(l.order, "finish "+step) }

// urn is the URN of a step the operation saw, which must be there.
func (l *stepLog) urn(t *testing.T, step string) string {
	t.Helper()
	urn, ok := l.urns[step]
	require.True(t, ok, "no step %s", step)
	return urn
}

// newStack is the named stack of the project in dir, on a file backend in a temporary
// directory, with the simulated cluster's kubeconfig in place of the file's context; the
// directories path (language hosts, plugins) come first on PATH after the CLI's.
func newStack(t *testing.T, ctx context.Context, pulumiBin, dir, name, kubeconfig string, path ...string) auto.Stack {
	t.Helper()
	home, state := t.TempDir(), t.TempDir()
	cmd, err := auto.NewPulumiCommand(&auto.PulumiCommandOptions{Root: filepath.Dir(pulumiBin), SkipVersionCheck: true})
	require.NoError(t, err)
	env := map[string]string{
		"PATH":                     strings.Join(append(append([]string{pulumiBin}, path...), os.Getenv("PATH")), string(os.PathListSeparator)),
		"PULUMI_HOME":              home,
		"PULUMI_BACKEND_URL":       "file://" + state,
		"PULUMI_CONFIG_PASSPHRASE": "engine-test",
		"PULUMI_SKIP_UPDATE_CHECK": "true",
	}
	stack, err := auto.UpsertStackLocalSource(ctx, name, dir, auto.Pulumi(cmd), auto.EnvVars(env), auto.SecretsProvider("passphrase"))
	require.NoError(t, err)
	require.NoError(t, stack.SetConfig(ctx, "kubernetes:kubeconfig", auto.ConfigValue{Value: kubeconfig, Secret: true}))
	return stack
}

// moduleRoot is the project's checkout.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	return root
}

// copyProject copies the project's tracked files into a temporary directory, so a test's stack
// files and state never touch the checkout. The stack's file is the one the tier deploys
// (stackfile.Load: the file with the tier's overlay, its kubeconfig context dropped), and
// Pulumi.yaml names the program built once by programBinary, so an operation does not compile it.
func copyProject(t *testing.T, stack string) string {
	t.Helper()
	root := moduleRoot(t)
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
	values, err := stackfile.Load(root, stack)
	require.NoError(t, err)
	delete(values, "kubernetes:context")
	stackFile, err := yaml.Marshal(map[string]any{"config": values})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stacks", "Pulumi."+stack+".yaml"), stackFile, 0o644))

	projectFile := filepath.Join(dir, "Pulumi.yaml")
	project, err := os.ReadFile(projectFile)
	require.NoError(t, err)
	runtime := "runtime:\n  name: go\n  options:\n    binary: " + programBinary(t) + "\n"
	withBinary := strings.Replace(string(project), "runtime: go\n", runtime, 1)
	require.NotEqual(t, string(project), withBinary, "Pulumi.yaml declares runtime: go")
	require.NoError(t, os.WriteFile(projectFile, []byte(withBinary), 0o644))
	return dir
}

// goBinary is a Go command built at most once per test process, into a temporary directory
// TestMain removes.
type goBinary struct {
	once sync.Once
	path string
	err  error
}

// Built binaries of the checkout: the Go program, and the component package's plugin.
var programBuild, pluginBuild goBinary

// build is the binary named name built from the Go package in dir (relative to the checkout),
// the first time it is asked for.
func (b *goBinary) build(t *testing.T, dir, name string) string {
	t.Helper()
	root := moduleRoot(t)
	b.once.Do(func() {
		tmp, err := os.MkdirTemp("", "certctl-engine-"+name+"-")
		if err != nil {
			b.err = err
			return
		}
		b.path = filepath.Join(tmp, name)
		cmd := exec.Command("go", "build", "-o", b.path, ".")
		cmd.Dir = filepath.Join(root, dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %v\n%s", dir, err, out)
		}
	})
	require.NoError(t, b.err)
	return b.path
}

// remove deletes the binary's directory, if it was built.
func (b *goBinary) remove() {
	if b.path != "" {
		_ = os.RemoveAll(filepath.Dir(b.path))
	}
}

// programBinary is the project's program, built once per test process from the checkout (what
// the Go language host would build on every operation).
func programBinary(t *testing.T) string {
	t.Helper()
	return programBuild.build(t, ".", "certctl")
}

// kubectl runs kubectl against the cluster, which must succeed.
func kubectl(t *testing.T, c *cluster.Cluster, args ...string) {
	t.Helper()
	out, err := c.Kubectl(args...)
	require.NoError(t, err, "kubectl %v: %s", args, out)
}

// tlsSecretYAML is a kubernetes.io/tls Secret for names, issued by a throwaway CA that is also its
// ca.crt, as the stack files say to create it (and cert-manager would issue it). It may run off
// the test's goroutine, so it panics instead of failing the test.
func tlsSecretYAML(ns, name string, names ...string) string {
	caDER, caKey := newCA()
	ca, err := x509.ParseCertificate(caDER)
	must(err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]},
		DNSNames: names, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}, ca, &key.PublicKey, caKey)
	must(err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	must(err)
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\ntype: kubernetes.io/tls\nmetadata: {name: %s, namespace: %s}\nstringData:\n  tls.crt: |\n%s\n  tls.key: |\n%s\n  ca.crt: |\n%s\n",
		name, ns, blockScalar(pemString("CERTIFICATE", leafDER)), blockScalar(pemString("PRIVATE KEY", keyDER)), blockScalar(pemString("CERTIFICATE", caDER)))
}

// caSecretYAML is an Opaque Secret holding a throwaway CA's ca.crt and ca.key, as CloudNativePG
// makes a Cluster's <cluster>-ca (labelled cnpg.io/cluster). It panics instead of failing the test,
// as tlsSecretYAML does.
func caSecretYAML(ns, name, cluster string) string {
	caDER, caKey := newCA()
	keyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	must(err)
	return fmt.Sprintf("apiVersion: v1\nkind: Secret\ntype: Opaque\nmetadata: {name: %s, namespace: %s, labels: {cnpg.io/cluster: %s}}\nstringData:\n  ca.crt: |\n%s\n  ca.key: |\n%s\n",
		name, ns, cluster, blockScalar(pemString("CERTIFICATE", caDER)), blockScalar(pemString("PRIVATE KEY", keyDER)))
}

// newCA is a throwaway self-signed CA valid for a day: its certificate (DER) and key.
func newCA() ([]byte, *ecdsa.PrivateKey) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "engine test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	must(err)
	return caDER, caKey
}

// blockScalar indents a PEM block as the body of a YAML block scalar under a Secret's stringData.
func blockScalar(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// must panics on err: for the helpers that may run off the test's goroutine.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// pemString is der PEM-encoded as a block of typ.
func pemString(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}

// logWriter sends the engine's progress to the test log, a line at a time.
type logWriter struct {
	t    *testing.T
	line []byte
}

// Write logs every complete line of p and keeps the rest for the next call.
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

// TestMain removes the binaries built for the tier once every test is done.
func TestMain(m *testing.M) {
	code := m.Run()
	programBuild.remove()
	pluginBuild.remove()
	os.Exit(code)
}
