package cluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// KubectlTimeout bounds one kubectl run (give `kubectl wait` a shorter --timeout).
const KubectlTimeout = 3 * time.Minute

// Kubectl runs the unpacked kubectl against the cluster and returns its standard output; the
// error, if any, carries its standard error.
func (c *Cluster) Kubectl(args ...string) (string, error) {
	return c.KubectlInput("", args...)
}

// KubectlInput is Kubectl with stdin as kubectl's standard input (for "-f -").
func (c *Cluster) KubectlInput(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), KubectlTimeout)
	defer cancel()
	cmd := c.KubectlCmd(ctx, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("kubectl %s: killed after %s", strings.Join(args, " "), KubectlTimeout)
		} else {
			err = fmt.Errorf("kubectl %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
		}
	}
	return stdout.String(), err
}

// KubectlCmd is an unstarted kubectl command for the cluster, its discovery cache kept in the
// cluster's directory.
func (c *Cluster) KubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	full := append([]string{"--kubeconfig=" + c.Kubeconfig, "--cache-dir=" + filepath.Join(c.Dir, "kubectl-cache")}, args...)
	cmd := exec.CommandContext(ctx, filepath.Join(c.BinDir, "kubectl"), full...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig)
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// Apply server-side applies YAML (one or more documents) and fails the test if the API server
// rejects it.
func (c *Cluster) Apply(t testing.TB, yaml string) {
	t.Helper()
	if out, err := c.KubectlInput(yaml, "apply", "--server-side", "--force-conflicts", "--field-manager=cluster-test", "-f", "-"); err != nil {
		t.Fatalf("apply: %v\n%s", err, out)
	}
}

// CreatePV creates a hostPath PersistentVolume of the given size (e.g. "10Gi") with no storage
// class, ReadWriteOnce, Retain: a claim with no class (or class "") and at most that size binds it.
func (c *Cluster) CreatePV(t testing.TB, name, size string) {
	t.Helper()
	c.CreatePVWithClass(t, name, size, "")
}

// CreatePVWithClass is CreatePV for claims naming storageClassName class.
func (c *Cluster) CreatePVWithClass(t testing.TB, name, size, class string) {
	t.Helper()
	c.Apply(t, fmt.Sprintf(`apiVersion: v1
kind: PersistentVolume
metadata:
  name: %s
spec:
  capacity:
    storage: %s
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: %q
  hostPath:
    path: /var/lib/certctl-test-pv/%s
    type: DirectoryOrCreate
`, name, size, class, name))
}

// InstallCRDs applies CustomResourceDefinition files and waits until each is Established.
func (c *Cluster) InstallCRDs(t testing.TB, files ...string) {
	t.Helper()
	var names []string
	for _, f := range files {
		out, err := c.Kubectl("apply", "--server-side", "--force-conflicts", "--field-manager=cluster-test", "-f", f, "-o", "name")
		if err != nil {
			t.Fatalf("installing CRDs from %s: %v\n%s", f, err, out)
		}
		names = append(names, strings.Fields(out)...)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "customresourcedefinition") {
			t.Fatalf("InstallCRDs: %s is not a CustomResourceDefinition", n)
		}
	}
	if len(names) == 0 {
		return
	}
	args := append([]string{"wait", "--for=condition=Established", "--timeout=60s"}, names...)
	if out, err := c.Kubectl(args...); err != nil {
		t.Fatalf("waiting for CRDs to be Established: %v\n%s", err, out)
	}
}

// Eventually calls cond every 250ms until it reports done, failing the test after timeout with
// cond's last status.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() (done bool, status string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		done, status := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s; last: %s", timeout, what, strings.TrimSpace(status))
		}
		time.Sleep(250 * time.Millisecond)
	}
}
