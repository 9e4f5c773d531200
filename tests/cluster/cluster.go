// Package cluster starts a simulated Kubernetes cluster for tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler (Kubernetes 1.33) and kwok, from
// ../shared/toolchain/cluster.tar.xz or built by make engine-toolchain, all on 127.0.0.1. kwok plays the kubelet of the fake Nodes:
// it runs no container but moves the pods scheduled on them through their lifecycle (Running and
// Ready, Job pods Succeeded, deleted pods gone) on the timings of testdata/kwok-stages.yaml,
// which a pod can change with annotations such as pod-ready.stage.kwok.x-k8s.io/delay: 30s. Set
// the stage's jitter-delay annotation to the same value: kwok waits the jitter delay (5 s unless
// annotated) whenever it is not above the delay.
// There is no volume provisioner: create PersistentVolumes (CreatePV) for the claims to bind.
package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// LogDirEnv names the variable that, when set, names a directory where each cluster keeps its components' logs
// (<dir>/<test name>-<time>/) after the test, instead of a temporary directory.
const LogDirEnv = "CERTCTL_CLUSTER_LOG_DIR"

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	podCIDR     = "10.244.0.0/16"
	nodeIP      = "10.240.0.1" // what kwok reports as every fake node's InternalIP; nothing listens there
	// FakeNodeAnnotation marks the Nodes kwok manages.
	FakeNodeAnnotation = "kwok.x-k8s.io/node"
)

// Options shape the cluster.
type Options struct {
	// Nodes is the number of fake Nodes, named node-0 .. node-<Nodes-1>, Ready when Start
	// returns. 0 means 1.
	Nodes int
	// Zones, when set, labels node i topology.kubernetes.io/zone=Zones[i%len(Zones)].
	Zones []string
	// NodeLabels are added to every Node.
	NodeLabels map[string]string
	// NodeAllocatable is each Node's allocatable (and capacity); default cpu 16, memory 64Gi,
	// pods 110.
	NodeAllocatable map[string]string
}

// Cluster is a running simulated cluster; t.Cleanup of the test that started it stops it.
type Cluster struct {
	// Kubeconfig is the path of a kubeconfig for the admin user (cluster-admin).
	Kubeconfig string
	// Server is the API server's URL, https://127.0.0.1:<port>.
	Server string
	// Token is the admin user's bearer token; CAData is the PEM of the CA the server's
	// certificate is signed by.
	Token  string
	CAData []byte
	// BinDir holds the unpacked etcd, kube-apiserver, ..., kubectl and kwok.
	BinDir string
	// Dir is the cluster's working directory (certificates, etcd data, logs).
	Dir string
	// Nodes are the fake Nodes' names.
	Nodes []string

	logDir string
	procs  []*process
	http   *http.Client
}

// Start starts a cluster and waits until it serves: API server ready, controller manager,
// scheduler and kwok healthy, the default ServiceAccount created and every Node Ready. Every
// process is stopped in t.Cleanup; if the test failed, the end of each log is written to t.Log.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	began := time.Now()
	bin := Binaries(t)
	// kwok v0.8.0's stages: a copy of ../shared/toolchain/kwok-stages.yaml, so a machine without
	// the archives runs the same timings.
	root, err := moduleRoot()
	if err != nil {
		t.Fatalf("kwok stages: %v", err)
	}
	stages := filepath.Join(root, "tests", "cluster", "testdata", "kwok-stages.yaml")
	if opts.Nodes <= 0 {
		opts.Nodes = 1
	}
	c := &Cluster{BinDir: bin, Dir: t.TempDir()}
	c.logDir = filepath.Join(c.Dir, "logs")
	if d := os.Getenv(LogDirEnv); d != "" {
		name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
		c.logDir = filepath.Join(d, name+"-"+time.Now().Format("20060102-150405.000"))
	}
	if err := os.MkdirAll(c.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the logs are dumped after every process has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			for _, p := range c.procs {
				t.Logf("==== %s: end of %s ====\n%s", p.name, p.logPath, p.tail(12000))
			}
		}
	})
	if err := c.start(t, opts, stages); err != nil {
		t.Fatalf("starting the simulated cluster: %v", err)
	}
	t.Logf("simulated cluster with %d nodes up in %s: %s (logs in %s)", opts.Nodes, time.Since(began).Round(time.Millisecond), c.Server, c.logDir)
	return c
}

func (c *Cluster) start(t testing.TB, opts Options, stages string) error {
	pk, err := writePKI(c.Dir)
	if err != nil {
		return err
	}
	c.Token, c.CAData = pk.token, pk.caPEM
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pk.caPEM)
	c.http = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	binPath := func(name string) string { return filepath.Join(c.BinDir, name) }

	// etcd
	etcdData := filepath.Join(c.Dir, "etcd")
	var etcdURL string
	if _, err := c.launch(t, "etcd", 2, 30*time.Second, func(ports []int) []string {
		etcdURL = fmt.Sprintf("http://127.0.0.1:%d", ports[0])
		peer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
		os.RemoveAll(etcdData)
		return []string{binPath("etcd"),
			"--name=default", "--data-dir=" + etcdData,
			"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
			"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
			"--initial-cluster=default=" + peer,
			"--unsafe-no-fsync", "--quota-backend-bytes=2147483648", "--snapshot-count=10000",
			"--log-level=warn",
		}
	}, func(ports []int) error {
		return httpOK(insecure, fmt.Sprintf("http://127.0.0.1:%d/health", ports[0]), "", `"health":"true"`)
	}); err != nil {
		return err
	}

	// kube-apiserver
	if _, err := c.launch(t, "kube-apiserver", 1, 60*time.Second, func(ports []int) []string {
		c.Server = fmt.Sprintf("https://127.0.0.1:%d", ports[0])
		return []string{binPath("kube-apiserver"),
			"--etcd-servers=" + etcdURL,
			"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[0]),
			"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
			"--tls-cert-file=" + pk.certFile, "--tls-private-key-file=" + pk.keyFile,
			"--client-ca-file=" + pk.caFile,
			"--token-auth-file=" + pk.tokenFile,
			"--authorization-mode=Node,RBAC",
			"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
			"--service-account-key-file=" + pk.saPubFile,
			"--service-account-signing-key-file=" + pk.saKeyFile,
			"--service-cluster-ip-range=" + serviceCIDR,
			"--enable-admission-plugins=NamespaceLifecycle,ServiceAccount,PodSecurity",
			"--allow-privileged=true",
			"--profiling=false",
			"--endpoint-reconciler-type=none",
		}
	}, func([]int) error {
		return httpOK(c.http, c.Server+"/readyz", c.Token, "ok")
	}); err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}

	// kube-controller-manager
	if _, err := c.launch(t, "kube-controller-manager", 1, 60*time.Second, func(ports []int) []string {
		return []string{binPath("kube-controller-manager"),
			"--kubeconfig=" + c.Kubeconfig,
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[0]),
			"--leader-elect=false", "--controllers=*",
			"--service-account-private-key-file=" + pk.saKeyFile,
			"--root-ca-file=" + pk.caFile,
			"--use-service-account-credentials=false",
			"--cluster-name=certctl-test",
			// Claims are matched to volumes created after them on this period (default 15s).
			"--pvclaimbinder-sync-period=2s",
			"--kube-api-qps=100", "--kube-api-burst=200",
			"--profiling=false",
		}
	}, func(ports []int) error {
		return httpOK(insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]), "", "ok")
	}); err != nil {
		return err
	}

	// kube-scheduler
	if _, err := c.launch(t, "kube-scheduler", 1, 60*time.Second, func(ports []int) []string {
		return []string{binPath("kube-scheduler"),
			"--kubeconfig=" + c.Kubeconfig,
			"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(ports[0]),
			"--leader-elect=false",
			"--kube-api-qps=100", "--kube-api-burst=200",
			"--profiling=false",
		}
	}, func(ports []int) error {
		return httpOK(insecure, fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]), "", "ok")
	}); err != nil {
		return err
	}

	// kwok
	if _, err := c.launch(t, "kwok", 1, 60*time.Second, func(ports []int) []string {
		return []string{binPath("kwok"),
			"--kubeconfig=" + c.Kubeconfig,
			"--config=" + stages,
			"--manage-nodes-with-annotation-selector=" + FakeNodeAnnotation + "=fake",
			"--cidr=" + podCIDR,
			"--node-ip=" + nodeIP,
			"--node-lease-duration-seconds=40",
			"--server-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		}
	}, func(ports []int) error {
		return httpOK(insecure, fmt.Sprintf("http://127.0.0.1:%d/healthz", ports[0]), "", "")
	}); err != nil {
		return err
	}

	// The controller manager works: the default namespace has its ServiceAccount.
	if err := c.poll(30*time.Second, "the default ServiceAccount of namespace default", func() (bool, string) {
		out, err := c.Kubectl("-n", "default", "get", "serviceaccount", "default", "-o", "name")
		return err == nil, out + errString(err)
	}); err != nil {
		return err
	}
	return c.createNodes(opts)
}

func (c *Cluster) createNodes(opts Options) error {
	alloc := map[string]string{"cpu": "16", "memory": "64Gi", "pods": "110"}
	for k, v := range opts.NodeAllocatable {
		alloc[k] = v
	}
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for i := range opts.Nodes {
		name := fmt.Sprintf("node-%d", i)
		c.Nodes = append(c.Nodes, name)
		labels := map[string]string{
			"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
			"type": "kwok",
		}
		if len(opts.Zones) > 0 {
			labels["topology.kubernetes.io/zone"] = opts.Zones[i%len(opts.Zones)]
		}
		for k, v := range opts.NodeLabels {
			labels[k] = v
		}
		fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Node\n  metadata:\n    name: %s\n    annotations:\n      %s: fake\n      node.alpha.kubernetes.io/ttl: \"0\"\n    labels:\n", name, FakeNodeAnnotation)
		writeMap(&b, "      ", labels)
		b.WriteString("  status:\n    allocatable:\n")
		writeMap(&b, "      ", alloc)
		b.WriteString("    capacity:\n")
		writeMap(&b, "      ", alloc)
	}
	if out, err := c.KubectlInput(b.String(), "create", "-f", "-", "-o", "name"); err != nil {
		return fmt.Errorf("creating nodes: %v: %s", err, out)
	}
	timeout := 60*time.Second + time.Duration(opts.Nodes)*200*time.Millisecond
	return c.poll(timeout, fmt.Sprintf("%d Ready nodes", opts.Nodes), func() (bool, string) {
		out, err := c.Kubectl("get", "nodes", "-o", `jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}`)
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if strings.HasSuffix(l, "=True") {
				ready++
			}
		}
		return ready == opts.Nodes, fmt.Sprintf("%d of %d Ready", ready, opts.Nodes)
	})
}

func writeMap(b *strings.Builder, indent string, m map[string]string) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s%s: %q\n", indent, k, m[k])
	}
}

// launch starts one component on fresh free ports and waits until ready(ports) passes, retrying
// on other ports if the process lost a race for a port.
func (c *Cluster) launch(t testing.TB, name string, nports int, timeout time.Duration, args func([]int) []string, ready func([]int) error) (*process, error) {
	for attempt := 1; ; attempt++ {
		ports, err := freePorts(nports)
		if err != nil {
			return nil, err
		}
		argv := args(ports)
		p, err := startProcess(name, argv[0], argv[1:], filepath.Join(c.logDir, name+".log"))
		if err != nil {
			return nil, err
		}
		c.procs = append(c.procs, p)
		t.Cleanup(func() { p.stop(15 * time.Second) })
		var last error
		deadline := time.Now().Add(timeout)
		for {
			if last = ready(ports); last == nil {
				return p, nil
			}
			if p.exited() {
				break
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%s not ready within %s: %v", name, timeout, last)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if p.portInUse() && attempt < 3 {
			continue
		}
		return nil, fmt.Errorf("%s exited (%v) before it was ready; end of its log:\n%s", name, p.err, p.tail(4000))
	}
}

// poll calls cond every 200ms until it reports done, or fails after timeout with its last status;
// it fails at once if a component of the cluster has exited.
func (c *Cluster) poll(timeout time.Duration, what string, cond func() (bool, string)) error {
	deadline := time.Now().Add(timeout)
	for {
		done, status := cond()
		if done {
			return nil
		}
		for _, p := range c.procs {
			if p.exited() && !p.stopped {
				return fmt.Errorf("waiting for %s: %s exited (%v); end of its log:\n%s", what, p.name, p.err, p.tail(4000))
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s; last: %s", timeout, what, strings.TrimSpace(status))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpOK(client *http.Client, url, token, want string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, body)
	}
	return nil
}

func (c *Cluster) writeKubeconfig() error {
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: certctl-test
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: admin
  user:
    token: %s
contexts:
- name: certctl-test
  context:
    cluster: certctl-test
    user: admin
current-context: certctl-test
`, c.Server, base64.StdEncoding.EncodeToString(c.CAData), c.Token)
	return os.WriteFile(c.Kubeconfig, []byte(cfg), 0o600)
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
