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
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optpreview"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests/cluster"
)

// TestDevStack: the dev stack, as its file says to deploy it (namespace and TLS Secret first),
// goes up on the real engine, every object is in the API server, a preview right after expects
// no changes, and a destroy leaves what the README says it keeps.
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

	up, err := stack.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	require.NoError(t, err, "pulumi up of the dev stack")
	assert.Equal(t, "succeeded", up.Summary.Result)
	for _, obj := range []string{
		"deployment/certctl-server", "service/certctl-server", "configmap/certctl-server", "secret/certctl-server",
		"statefulset/certctl-postgres", "service/certctl-postgres", "secret/certctl-postgres",
		"daemonset/certctl-agent", "configmap/certctl-agent", "serviceaccount/certctl", "secret/certctl-ca",
	} {
		_, err := c.Kubectl("-n", ns, "get", obj)
		assert.NoError(t, err, "%s is in the API server", obj)
	}

	_, err = stack.Preview(ctx, optpreview.ExpectNoChanges(), optpreview.ProgressStreams(out))
	assert.NoError(t, err, "a preview right after pulumi up expects no changes")

	_, err = stack.Destroy(ctx, optdestroy.ProgressStreams(out))
	require.NoError(t, err, "pulumi destroy")
	claims, err := c.Kubectl("-n", ns, "get", "pvc", "-o", "name")
	require.NoError(t, err)
	assert.Contains(t, claims, "data-certctl-postgres-0", "the Postgres claim survives pulumi destroy")
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
