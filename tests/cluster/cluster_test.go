package cluster

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// restrictedPod is a pod spec (indented for a template) that Pod Security "restricted" admits.
const restrictedPod = `
      terminationGracePeriodSeconds: 1
      securityContext:
        runAsNonRoot: true
        runAsUser: 65532
        seccompProfile:
          type: RuntimeDefault
      containers:
      - name: app
        image: registry.k8s.io/pause:3.10
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities:
            drop: [ALL]
`

func kubectl(t *testing.T, c *Cluster, args ...string) string {
	t.Helper()
	out, err := c.Kubectl(args...)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

// TestClusterRuns: the controllers, scheduler and kwok do what tests of the program rely on.
func TestClusterRuns(t *testing.T) {
	began := time.Now()
	c := Start(t, Options{Nodes: 3, Zones: []string{"zone-a", "zone-b", "zone-c"}})
	t.Logf("start-up: %s", time.Since(began).Round(time.Millisecond))
	if got := kubectl(t, c, "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"); got != "node-0 node-1 node-2" {
		t.Fatalf("nodes: %q", got)
	}
	if got := kubectl(t, c, "get", "node", "node-1", "-o", `jsonpath={.metadata.labels.topology\.kubernetes\.io/zone}`); got != "zone-b" {
		t.Errorf("node-1 zone: %q", got)
	}
	if got := kubectl(t, c, "auth", "can-i", "*", "*", "--all-namespaces"); got != "yes" {
		t.Errorf("the admin token is not cluster-admin: can-i * * = %q", got)
	}
	const ns = "smoke"
	c.Apply(t, `apiVersion: v1
kind: Namespace
metadata:
  name: `+ns+`
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
`)

	c.CreatePV(t, "smoke-data", "2Gi")
	created := time.Now()
	// Everything is created up front, then checked: kwok's stage delays (1 to 5 s per step,
	// kwok-stages.yaml) then overlap instead of adding up.
	c.Apply(t, `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: `+ns+`
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:`+restrictedPod+`---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: `+ns+`
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:`+restrictedPod+`---
apiVersion: batch/v1
kind: Job
metadata:
  name: once
  namespace: `+ns+`
spec:
  backoffLimit: 0
  template:
    spec:
      restartPolicy: Never`+restrictedPod+`---
apiVersion: v1
kind: Pod
metadata:
  name: slow
  namespace: `+ns+`
  annotations:
    pod-ready.stage.kwok.x-k8s.io/delay: 1h
    pod-ready.stage.kwok.x-k8s.io/jitter-delay: 1h
spec:`+strings.ReplaceAll(restrictedPod, "\n    ", "\n")+`---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
  namespace: `+ns+`
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
`)
	c.InstallCRDs(t, "testdata/cert-manager.io_certificates.yaml")

	t.Run("PodSecurityRejectsPrivileged", func(t *testing.T) {
		out, err := c.KubectlInput(`apiVersion: v1
kind: Pod
metadata:
  name: privileged
  namespace: `+ns+`
spec:
  containers:
  - name: app
    image: registry.k8s.io/pause:3.10
    securityContext:
      privileged: true
`, "create", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
			t.Fatalf("a privileged pod in a restricted namespace: err=%v out=%s", err, out)
		}
	})

	t.Run("ClaimBindsToPreCreatedVolume", func(t *testing.T) {
		kubectl(t, c, "-n", ns, "wait", "--for=jsonpath={.status.phase}=Bound", "pvc/data", "--timeout=60s")
		if got := kubectl(t, c, "-n", ns, "get", "pvc", "data", "-o", "jsonpath={.spec.volumeName}"); got != "smoke-data" {
			t.Fatalf("claim bound to %q", got)
		}
	})

	t.Run("CustomResourceDefinition", func(t *testing.T) {
		c.Apply(t, `apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: web
  namespace: `+ns+`
spec:
  secretName: web-tls
  dnsNames: [web.smoke.svc]
  issuerRef:
    name: ca
    kind: ClusterIssuer
`)
		if got := kubectl(t, c, "-n", ns, "get", "certificate", "web", "-o", "jsonpath={.spec.secretName}"); got != "web-tls" {
			t.Fatalf("certificate secretName: %q", got)
		}
		// The schema is enforced: secretName is required.
		out, err := c.KubectlInput(`apiVersion: cert-manager.io/v1
kind: Certificate
metadata:
  name: bad
  namespace: `+ns+`
spec:
  dnsNames: [bad.smoke.svc]
  issuerRef: {name: ca}
`, "create", "-f", "-")
		if err == nil || !strings.Contains(err.Error(), "secretName") {
			t.Fatalf("a Certificate without secretName: err=%v out=%s", err, out)
		}
	})

	t.Run("DeploymentRollsOut", func(t *testing.T) {
		kubectl(t, c, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
		if got := kubectl(t, c, "-n", ns, "get", "deployment", "web", "-o", "jsonpath={.status.availableReplicas}"); got != "2" {
			t.Fatalf("available replicas: %q", got)
		}
		got := kubectl(t, c, "-n", ns, "get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.status.phase}/{.status.podIP} {end}`)
		if strings.Count(got, "Running/10.244.") != 2 {
			t.Fatalf("pods (phase/IP): %q", got)
		}
	})

	t.Run("DaemonSetOnEveryNode", func(t *testing.T) {
		kubectl(t, c, "-n", ns, "rollout", "status", "daemonset/agent", "--timeout=90s")
		got := kubectl(t, c, "-n", ns, "get", "daemonset", "agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.numberAvailable}")
		if got != "3/3" {
			t.Fatalf("desired/available: %q", got)
		}
		nodes := strings.Fields(kubectl(t, c, "-n", ns, "get", "pods", "-l", "app=agent", "-o", "jsonpath={.items[*].spec.nodeName}"))
		slices.Sort(nodes)
		if !slices.Equal(nodes, c.Nodes) {
			t.Fatalf("daemon pods on %v, want one on each of %v", nodes, c.Nodes)
		}
	})

	t.Run("JobCompletes", func(t *testing.T) {
		kubectl(t, c, "-n", ns, "wait", "--for=condition=Complete", "job/once", "--timeout=90s")
		got := kubectl(t, c, "-n", ns, "get", "pods", "-l", "batch.kubernetes.io/job-name=once", "-o", "jsonpath={.items[*].status.phase}")
		if got != "Succeeded" {
			t.Fatalf("job pod phase: %q", got)
		}
	})

	t.Run("DeletedDeploymentIsGarbageCollected", func(t *testing.T) {
		if got := kubectl(t, c, "-n", ns, "get", "replicasets", "-l", "app=web", "-o", "name"); got == "" {
			t.Fatal("no ReplicaSet to collect")
		}
		kubectl(t, c, "-n", ns, "delete", "deployment", "web", "--wait=true", "--timeout=60s")
		Eventually(t, 90*time.Second, "the ReplicaSet and pods of the deleted Deployment to be gone", func() (bool, string) {
			out, err := c.Kubectl("-n", ns, "get", "replicasets,pods", "-l", "app=web", "-o", "name")
			return err == nil && strings.TrimSpace(out) == "", out + errString(err)
		})
	})
	t.Run("StageAnnotationDelaysReadiness", func(t *testing.T) {
		// Without its annotations the pod would be Ready at most 10 s after it was created (two
		// stages of at most 5 s each). Checked last, and not before 15 s, it has an IP (the
		// pod-create stage ran) but is not Ready: pod-ready waits the hour its annotation asks for.
		kubectl(t, c, "-n", ns, "wait", "--for=jsonpath={.status.podIP}", "pod/slow", "--timeout=60s")
		if wait := 15*time.Second - time.Since(created); wait > 0 {
			time.Sleep(wait)
		}
		got := kubectl(t, c, "-n", ns, "get", "pod", "slow", "-o", `jsonpath={.status.phase}/{.status.conditions[?(@.type=="Ready")].status}`)
		if got != "Pending/False" {
			t.Fatalf("pod with a 1h pod-ready delay: phase/Ready %q, want Pending/False", got)
		}
	})

	t.Logf("start-up and checks: %s", time.Since(began).Round(time.Millisecond))
}

// TestClusterManyNodes starts 150 nodes and runs a DaemonSet on all of them (about 20 s on 2
// cores; skipped with -short).
func TestClusterManyNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: no 150-node cluster")
	}
	const n = 150
	began := time.Now()
	c := Start(t, Options{Nodes: n})
	t.Logf("start-up with %d nodes: %s", n, time.Since(began).Round(time.Millisecond))
	c.Apply(t, `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
spec:
  selector:
    matchLabels: {app: agent}
  template:
    metadata:
      labels: {app: agent}
    spec:`+restrictedPod)
	kubectl(t, c, "rollout", "status", "daemonset/agent", "--timeout=240s")
	got := kubectl(t, c, "get", "daemonset", "agent", "-o", "jsonpath={.status.desiredNumberScheduled}/{.status.numberAvailable}")
	if want := fmt.Sprintf("%d/%d", n, n); got != want {
		t.Fatalf("desired/available: %q, want %q", got, want)
	}
	t.Logf("DaemonSet on %d nodes available after %s", n, time.Since(began).Round(time.Millisecond))
}

// The stages the cluster runs are kwok's from the toolchain, copied so a machine without the
// archives has them: the copy must not drift.
func TestStagesMatchToolchain(t *testing.T) {
	shared, err := toolchainPath("kwok-stages.yaml")
	require.NoError(t, err)
	want, err := os.ReadFile(shared)
	if os.IsNotExist(err) {
		t.Skipf("no %s to compare with", shared)
	}
	require.NoError(t, err)
	got, err := os.ReadFile("testdata/kwok-stages.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "testdata/kwok-stages.yaml is a copy of %s", shared)
}
