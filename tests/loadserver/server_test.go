package loadserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// serverStartTimeout bounds a replica's start: migrations on a fresh database, then readiness.
const serverStartTimeout = 90 * time.Second

// deployment is the rendered server Deployment run as host processes on loopback: every replica
// gets the rendered environment, with the mounted Secrets' files in a temporary directory, the
// database URL pointed at the test's PostgreSQL, and its own loopback port.
type deployment struct {
	dir      string
	binary   string
	env      map[string]string // the container's environment, host paths and database address
	hook     []string          // the container's postStart command
	roots    *x509.CertPool    // the CA of the server certificate
	dnsName  string            // the name clients use for the Service (stack output serverDnsName)
	keys     keys
	scrape   scrapeConfig
	db       *postgres
	replicas []*replica
}

// keys are the credentials the program generated.
type keys struct{ admin, agents, bootstrap, scrape string }

// scrapeConfig is the rendered ServiceMonitor's endpoint.
type scrapeConfig struct {
	path       string
	interval   time.Duration
	timeout    time.Duration
	serverName string
}

// replica is one running server process.
type replica struct {
	addr string
	pid  int
}

func newDeployment(t *testing.T, h host, r *tests.Render, db *postgres) *deployment {
	t.Helper()
	spec := r.Deployment(t, "certctl-server").Spec.Template.Spec
	c := spec.Containers[0]
	d := &deployment{
		dir:     t.TempDir(),
		binary:  h.certctl.Server,
		env:     containerEnv(t, r, c),
		hook:    c.Lifecycle.PostStart.Exec.Command,
		dnsName: r.Outputs["serverDnsName"].Value.(string),
		db:      db,
	}
	d.keys = keys{
		admin:     r.Outputs["apiKey"].Value.(string),
		agents:    r.Outputs["agentApiKey"].Value.(string),
		bootstrap: r.Outputs["agentBootstrapToken"].Value.(string),
	}
	d.readScrapeConfig(t, r)
	d.mountSecrets(t, r, spec.Volumes, c.VolumeMounts)
	u, err := url.Parse(d.env["CERTCTL_DATABASE_URL"])
	require.NoError(t, err)
	u.Host = db.addr // the Service name certctl-postgres resolves to the database
	d.env["CERTCTL_DATABASE_URL"] = u.String()
	// The image's WORKDIR /app holds the migrations the server reads at ./migrations.
	require.NoError(t, os.Symlink(h.certctl.Migrations, filepath.Join(d.dir, "migrations")))
	return d
}

// readScrapeConfig takes Prometheus' settings from the rendered ServiceMonitor: its path,
// interval and timeout, the key of its authorization Secret and its TLS server name.
func (d *deployment) readScrapeConfig(t *testing.T, r *tests.Render) {
	t.Helper()
	ep := tests.Path(r.Object(t, "ServiceMonitor", "certctl-server").Manifest(), "spec", "endpoints", 0)
	creds := tests.Path(ep, "authorization", "credentials").(map[string]any)
	d.keys.scrape = secretValue(t, r, creds["name"].(string), creds["key"].(string))
	interval, err := time.ParseDuration(tests.Path(ep, "interval").(string))
	require.NoError(t, err)
	timeout, err := time.ParseDuration(tests.Path(ep, "scrapeTimeout").(string))
	require.NoError(t, err)
	d.scrape = scrapeConfig{
		path: tests.Path(ep, "path").(string), interval: interval, timeout: timeout,
		serverName: tests.Path(ep, "tlsConfig", "serverName").(string),
	}
}

// mountSecrets writes each Secret volume's files under the deployment's directory and points
// the environment's paths at them. The server's TLS Secret is the user's (server.tls
// existingSecret): a throwaway certificate for the Service's names stands in for it.
func (d *deployment) mountSecrets(t *testing.T, r *tests.Render, volumes []corev1.Volume, mounts []corev1.VolumeMount) {
	t.Helper()
	tlsFiles, roots := serverCertificate(t, d.dnsName, d.scrape.serverName)
	d.roots = roots
	for _, m := range mounts {
		files := secretFiles(t, r, volumes, m.Name, tlsFiles)
		if files == nil {
			continue
		}
		dir := filepath.Join(d.dir, "mounts", m.Name)
		require.NoError(t, os.MkdirAll(dir, 0o700))
		for name, content := range files {
			require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600))
		}
		for k, v := range d.env {
			if strings.HasPrefix(v, m.MountPath+"/") {
				d.env[k] = dir + strings.TrimPrefix(v, m.MountPath)
			}
		}
	}
}

// secretFiles are the files of the Secret volume of that name, nil for any other volume; the
// user's TLS Secret (not rendered) has tlsFiles.
func secretFiles(t *testing.T, r *tests.Render, volumes []corev1.Volume, name string, tlsFiles map[string]string) map[string]string {
	t.Helper()
	for _, v := range volumes {
		if v.Name != name || v.Secret == nil {
			continue
		}
		if v.Secret.SecretName == "certctl-tls" {
			return tlsFiles
		}
		files := map[string]string{}
		s := r.Secret(t, v.Secret.SecretName)
		for k, content := range s.StringData {
			files[k] = content
		}
		for k, content := range s.Data {
			files[k] = string(content)
		}
		return files
	}
	return nil
}

// serverCertificate is a throwaway CA and a server certificate for names and 127.0.0.1, as the
// files of a TLS Secret (tls.crt, tls.key, ca.crt).
func serverCertificate(t *testing.T, names ...string) (map[string]string, *x509.CertPool) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "certctl load test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: names[0]}, DNSNames: names,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:   time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	roots := x509.NewCertPool()
	roots.AddCert(caCert)
	return map[string]string{
		"tls.crt": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER})),
		"tls.key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})),
		"ca.crt":  string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})),
	}, roots
}

// addReplica starts one more server process on its own loopback port, waits until it is ready
// and runs the rendered postStart hook against it, as kubelet would.
func (d *deployment) addReplica(t *testing.T) {
	t.Helper()
	port := certctlbin.FreePort(t)
	env := d.processEnv(port)
	logPath := filepath.Join(d.dir, fmt.Sprintf("server-%d.log", len(d.replicas)))
	log, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := exec.Command(d.binary)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = d.dir, env, log, log
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { stopServer(cmd, done); log.Close() })
	rep := &replica{addr: "127.0.0.1:" + port, pid: cmd.Process.Pid}
	d.waitReady(t, rep, done, logPath)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	hook := exec.CommandContext(ctx, d.hook[0], d.hook[1:]...)
	hook.Env = env
	out, err := hook.CombinedOutput()
	require.NoError(t, err, "the rendered postStart hook: %s", out)
	d.replicas = append(d.replicas, rep)
}

// processEnv is the container's environment on this host: loopback only, on port.
func (d *deployment) processEnv(port string) []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + d.dir}
	for k, v := range d.env {
		switch k {
		case "CERTCTL_SERVER_HOST":
			v = "127.0.0.1"
		case "CERTCTL_SERVER_PORT":
			v = port
		}
		env = append(env, k+"="+v)
	}
	return env
}

// waitReady polls the replica's /ready until it answers 200, for at most serverStartTimeout.
func (d *deployment) waitReady(t *testing.T, rep *replica, exited <-chan struct{}, logPath string) {
	t.Helper()
	c := d.client(nil, rep.addr, d.dnsName, 3*time.Second)
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(serverStartTimeout)
	for {
		status, _, err := call(context.Background(), c, http.MethodGet, d.url("/ready"), "", nil)
		if err == nil && status == http.StatusOK {
			return
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the server exited before it was ready; its log:\n%s", log)
		default:
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("the server was not ready after %s (last: %d %v); its log:\n%s", serverStartTimeout, status, err, log)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// stopServer sends SIGTERM and waits for the server to drain its audit writes (30 s by
// default, CERTCTL_AUDIT_FLUSH_TIMEOUT_SECONDS), then kills it.
func stopServer(cmd *exec.Cmd, done <-chan struct{}) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(40 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// url is an API URL by the Service's name; clients dial a replica's address for it.
func (d *deployment) url(path string) string {
	return "https://" + d.dnsName + ":" + d.env["CERTCTL_SERVER_PORT"] + path
}

// client is an HTTP client like the agent's (cmd/agent/main.go NewAgent): TLS 1.3, HTTP/2, at
// most 10 idle connections kept 90 s, timeout as given. It connects from source (nil: any
// loopback address) to the replica at addr whatever the URL's host, as kube-proxy routes the
// Service, and verifies the server certificate for serverName.
func (d *deployment) client(source net.IP, addr, serverName string, timeout time.Duration) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	if source != nil {
		dialer.LocalAddr = &net.TCPAddr{IP: source}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: d.roots, ServerName: serverName},
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          10,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   10 * time.Second,
			ExpectContinueTimeout: time.Second,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
		},
	}
}
