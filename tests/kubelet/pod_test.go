package kubelet

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// buildDir holds the test server binary, built once for the whole package run.
var buildDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "kubelet-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buildDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var buildServer = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(buildDir, "server")
	cmd := exec.Command("go", "build", "-o", bin, "./testdata/server")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the test server: %w: %s", err, out)
	}
	return bin, nil
})

// newCluster is a cluster in namespace "shop" with two images: "shell" runs its args with the
// host's /bin/sh, "server" is testdata/server at /app/server.
func newCluster(t testing.TB, objects ...string) *Cluster {
	t.Helper()
	if err := preflight(); err != nil {
		New(t, Options{}) // skips, or fails under CI, with the reason
	}
	bin, err := buildServer()
	require.NoError(t, err)
	var manifests []map[string]any
	for _, doc := range objects {
		manifests = append(manifests, manifest(t, doc))
	}
	return New(t, Options{
		Namespace: "shop",
		Objects:   manifests,
		Images: map[string]Image{
			"shell": {Entrypoint: []string{"/bin/sh", "-c"}},
			"server": {
				Entrypoint: []string{"/app/server"}, WorkingDir: "/app",
				Env:   map[string]string{"PATH": "/app:/usr/bin:/bin"},
				Files: map[string]string{"/app/server": bin},
			},
		},
	})
}

// waitLog waits until the pod's logs contain want.
func waitLog(t *testing.T, p *Pod, want string) {
	t.Helper()
	require.Eventually(t, func() bool { return strings.Contains(p.Logs(), want) }, 10*time.Second, 20*time.Millisecond,
		"logs never showed %q", want)
}

func exec1(t *testing.T, p *Pod, container string, cmd ...string) string {
	t.Helper()
	out, err := p.Exec(container, cmd...)
	require.NoError(t, err, "exec %q: %s", cmd, out)
	return strings.TrimSpace(out)
}

// TestRestrictedPod: a pod as the program renders them (non-root, fsGroup, read-only root, Secret
// with mode 0400) gets what it would get in a cluster.
func TestRestrictedPod(t *testing.T) {
	c := newCluster(t, `
kind: Secret
metadata: {name: creds}
stringData: {password: s3cret, unused: x}`, `
kind: Service
metadata: {name: db}
spec:
  selector: {app: db}
  ports: [{name: postgres, port: 5432}]`)
	t.Setenv("GOPATH", "/leak/if/seen") // must not reach the container
	p := c.StartPod("secure", manifest(t, `
metadata: {labels: {app: secure}}
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, runAsNonRoot: true}
  volumes:
  - {name: scratch, emptyDir: {}}
  - {name: creds, secret: {secretName: creds, defaultMode: 256, items: [{key: password, path: pw}]}}
  containers:
  - name: main
    image: shell
    args: ["tr '\\0' '\\n' < /proc/$$$$/environ > /scratch/env; exec sleep 3600"]
    env:
    - {name: GREETING, value: "hello $(DB_SERVICE_HOST)"}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    securityContext:
      readOnlyRootFilesystem: true
      allowPrivilegeEscalation: false
      capabilities: {drop: [ALL]}
    volumeMounts:
    - {name: scratch, mountPath: /scratch}
    - {name: creds, mountPath: /etc/creds, readOnly: true}`), PodOptions{})
	p.WaitReady(10 * time.Second)

	home := "/"
	if u, err := user.LookupId("1000"); err == nil && u.HomeDir != "" {
		home = u.HomeDir // runc's HOME: the user's entry in the image's (here the host's) passwd
	}
	require.Eventually(t, func() bool { _, err := p.Exec("main", "test", "-s", "/scratch/env"); return err == nil }, 5*time.Second, 20*time.Millisecond)
	assert.Equal(t, strings.Join([]string{
		"DB_PORT=tcp://10.96.0.1:5432",
		"DB_PORT_5432_TCP=tcp://10.96.0.1:5432",
		"DB_PORT_5432_TCP_ADDR=10.96.0.1",
		"DB_PORT_5432_TCP_PORT=5432",
		"DB_PORT_5432_TCP_PROTO=tcp",
		"DB_SERVICE_HOST=10.96.0.1",
		"DB_SERVICE_PORT=5432",
		"DB_SERVICE_PORT_POSTGRES=5432",
		"GREETING=hello 10.96.0.1",
		"HOME=" + home,
		"HOSTNAME=secure",
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"POD_NAME=secure",
	}, "\n"), exec1(t, p, "main", "cat", "/scratch/env"), "the process's environment, exactly")

	assert.Equal(t, "1000 3000", exec1(t, p, "main", "sh", "-c", "echo $(id -u) $(id -g)"))
	assert.Contains(t, strings.Fields(exec1(t, p, "main", "id", "-G")), "2000", "fsGroup is a supplementary group")
	assert.Contains(t, exec1(t, p, "main", "grep", "-E", "^(CapEff|CapBnd|NoNewPrivs)", "/proc/self/status"),
		"CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\nNoNewPrivs:\t1")

	for _, path := range []string{"/written", "/tmp/written", "/etc/written"} {
		out, err := p.Exec("main", "touch", path)
		require.Error(t, err, "writing %s must fail", path)
		assert.Contains(t, out, "Read-only file system", path)
	}
	assert.Equal(t, "2777 0:2000\n644 1000:2000", exec1(t, p, "main", "sh", "-c",
		"echo x > /scratch/f && stat -c '%a %u:%g' /scratch /scratch/f"), "emptyDir: group fsGroup, setgid, writable")

	assert.Equal(t, "440 0:2000", exec1(t, p, "main", "stat", "-L", "-c", "%a %u:%g", "/etc/creds/pw"),
		"0400 plus group read for fsGroup, root-owned")
	assert.Equal(t, "s3cret", exec1(t, p, "main", "cat", "/etc/creds/pw"))
	assert.Equal(t, "pw", exec1(t, p, "main", "ls", "/etc/creds"), "only the listed item")
	assert.Equal(t, "..data/pw", exec1(t, p, "main", "readlink", "/etc/creds/pw"), "kubelet's atomic-writer layout")

	assert.Contains(t, exec1(t, p, "main", "cat", "/etc/hosts"), "10.96.0.1\tdb db.shop db.shop.svc db.shop.svc.cluster.local")
}

// TestInitContainerAndPostStart: init containers finish before the containers start and can hand
// files over through an emptyDir; the postStart hook runs in the container as its user.
func TestInitContainerAndPostStart(t *testing.T) {
	c := newCluster(t)
	p := c.StartPod("handoff", manifest(t, `
spec:
  volumes: [{name: shared, emptyDir: {}}]
  initContainers:
  - name: prepare
    image: shell
    args: ["echo from-init > /shared/handoff && grep CapEff /proc/self/status && echo init done"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: main
    image: shell
    args: ["echo main read $(cat /shared/handoff); exec sleep 3600"]
    securityContext: {runAsUser: 1234}
    lifecycle:
      postStart:
        exec: {command: [sh, -c, "echo $(id -u) $HOSTNAME $(hostname) > /shared/hook"]}
    volumeMounts: [{name: shared, mountPath: /shared}]`), PodOptions{})
	p.WaitReady(10 * time.Second)
	waitLog(t, p, "main read from-init")
	assert.Equal(t, "1234 handoff handoff", exec1(t, p, "main", "cat", "/shared/hook"), "the hook ran inside the container")
	assert.Contains(t, p.Logs(), "=== pod handoff, init container prepare (terminated: exit 0) ===\n"+
		"CapEff:\t00000000a80425fb\ninit done\n", "root holds exactly the runtime's default capabilities")
}

// fatalRecorder turns a Fatal of the code under test into a panic the test can catch.
type fatalRecorder struct {
	testing.TB
	message string
}

func (f *fatalRecorder) Helper() {}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.message = fmt.Sprintf(format, args...)
	panic(f)
}

// startFails starts a pod that must not start and returns why it failed.
func startFails(t *testing.T, template string, objects ...string) (message string) {
	t.Helper()
	f := &fatalRecorder{TB: t}
	c := newCluster(f, objects...)
	defer func() {
		if r := recover(); r != nil && r != f {
			panic(r)
		}
		message = f.message
	}()
	c.StartPod("doomed", manifest(t, template), PodOptions{})
	t.Fatal("the pod started")
	return ""
}

func TestPodsThatMustNotStart(t *testing.T) {
	assert.Contains(t, startFails(t, `
spec:
  initContainers: [{name: migrate, image: shell, args: ["echo migration failed; exit 3"]}]
  containers: [{name: main, image: shell, args: ["exec sleep 3600"]}]`),
		"init container migrate failed: exit status 3", "a failing init container")
	assert.Contains(t, startFails(t, `
spec:
  securityContext: {runAsNonRoot: true}
  containers: [{name: main, image: shell, args: ["exec sleep 3600"]}]`),
		"runAsNonRoot and image will run as root")
	assert.Contains(t, startFails(t, `
spec:
  volumes: [{name: tls, secret: {secretName: tls}}]
  containers: [{name: main, image: shell, args: ["exec sleep 3600"], volumeMounts: [{name: tls, mountPath: /tls}]}]`),
		`Secret "tls" not found`)
	assert.Contains(t, startFails(t, `
spec:
  volumes: [{name: tls, secret: {secretName: tls, items: [{key: ca.crt, path: ca.crt}]}}]
  containers: [{name: main, image: shell, args: ["exec sleep 3600"], volumeMounts: [{name: tls, mountPath: /tls}]}]`,
		`{kind: Secret, metadata: {name: tls}, stringData: {tls.crt: x}}`),
		`Secret "tls" has no key "ca.crt"`)
	message := startFails(t, `
spec:
  containers:
  - name: main
    image: shell
    args: ["exec sleep 3600"]
    lifecycle: {postStart: {exec: {command: [sh, -c, "echo hook broke; exit 1"]}}}`)
	assert.Contains(t, message, "postStart hook of container main failed")
	assert.Contains(t, message, "hook broke")
}

// echoPod is a pod of the echo Service: the test server on port 8080 (named http) in every pod.
const echoPod = `
metadata: {labels: {app: echo}}
spec:
  containers:
  - name: server
    image: server
    args: [serve, ":8080"]
    ports: [{name: http, containerPort: 8080}]
    env:
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    readinessProbe: {httpGet: {path: /ready, port: http}, periodSeconds: 1}`

const echoService = `
kind: Service
metadata: {name: echo}
spec:
  selector: {app: echo}
  ports: [{name: web, port: 80, targetPort: http}]`

// TestServices: pods each have their own network (two listen on the same port), Service names
// resolve in every pod and reach ready endpoints round-robin from the client pod's IP, a stopped
// pod leaves the endpoints, and the test process dials Services the same way.
func TestServices(t *testing.T) {
	c := newCluster(t, echoService)
	a, b := c.StartPod("echo-a", manifest(t, echoPod), PodOptions{}), c.StartPod("echo-b", manifest(t, echoPod), PodOptions{})
	client := c.StartPod("client", manifest(t, echoPod), PodOptions{}) // serves too: a long-running process
	for _, p := range []*Pod{a, b, client} {
		p.WaitReady(10 * time.Second)
	}
	clientIP := exec1(t, client, "server", "sh", "-c", "echo $POD_IP")

	get := func(url string) (pod, source string) {
		t.Helper()
		fields := strings.Fields(exec1(t, client, "server", "server", "get", url))
		require.Len(t, fields, 2)
		return fields[0], fields[1]
	}
	seen := map[string]bool{}
	for _, url := range []string{"http://echo/", "http://echo.shop.svc.cluster.local:80/", "http://echo.shop/"} {
		pod, source := get(url)
		seen[pod] = true
		assert.True(t, strings.HasPrefix(source, clientIP+":"), "the endpoint sees the client pod's IP, not %s", source)
	}
	assert.Equal(t, map[string]bool{"echo-a": true, "echo-b": true, "client": true}, seen, "round-robin over the three ready pods")

	c.AddAlias("echo.example.com", "echo")
	pod, _ := get("http://echo.example.com/")
	assert.Contains(t, []string{"echo-a", "echo-b", "client"}, pod, "an alias added while pods run")
	c.AddObject(manifest(t, `
kind: Service
metadata: {name: echo-alt}
spec:
  selector: {app: echo}
  ports: [{port: 8081, targetPort: 8080}]`))
	pod, _ = get("http://echo-alt:8081/")
	assert.Contains(t, []string{"echo-a", "echo-b", "client"}, pod, "a Service added while pods run")

	a.Stop()
	assert.False(t, a.Ready())
	for range 4 {
		pod, _ := get("http://echo/")
		assert.NotEqual(t, "echo-a", pod, "a stopped pod is no endpoint")
	}

	httpClient := http.Client{Transport: &http.Transport{DialContext: c.DialContext}, Timeout: 5 * time.Second}
	resp, err := httpClient.Get("http://echo.shop.svc:80/")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	fields := strings.Fields(string(body))
	require.Len(t, fields, 2)
	assert.Contains(t, []string{"echo-b", "client"}, fields[0])
	assert.True(t, strings.HasPrefix(fields[1], testClientIP.String()+":"), "the test dials as a pod with testClientIP")

	_, err = c.DialContext(context.Background(), "tcp", "nowhere:80")
	assert.ErrorContains(t, err, `no Service or alias named "nowhere"`)
}

// TestReadinessProbes: a pod is ready only when every container's readiness probe (httpGet over
// HTTPS, exec) passes, and only a ready pod is a Service endpoint.
func TestReadinessProbes(t *testing.T) {
	c := newCluster(t, `
kind: Service
metadata: {name: gated}
spec:
  selector: {app: gated}
  ports: [{port: 443, targetPort: https}]`)
	p := c.StartPod("gated", manifest(t, `
metadata: {labels: {app: gated}}
spec:
  volumes: [{name: flags, emptyDir: {}}]
  containers:
  - name: web
    image: server
    args: [serve-tls, ":8443", /flags/web]
    ports: [{name: https, containerPort: 8443}]
    readinessProbe: {httpGet: {path: /ready, port: https, scheme: HTTPS}, periodSeconds: 1}
    volumeMounts: [{name: flags, mountPath: /flags}]
  - name: sidecar
    image: shell
    args: ["exec sleep 3600"]
    readinessProbe: {exec: {command: [test, -f, /flags/sidecar]}, periodSeconds: 1}
    volumeMounts: [{name: flags, mountPath: /flags}]`), PodOptions{})

	waitLog(t, p, "running, not ready: httpGet https://10.244.0.1:8443/ready: status 503")
	assert.False(t, p.Ready())
	_, err := c.DialContext(context.Background(), "tcp", "gated:443")
	require.ErrorContains(t, err, "no ready endpoints")

	exec1(t, p, "web", "touch", "/flags/web")
	time.Sleep(time.Second)
	assert.False(t, p.Ready(), "the sidecar's exec probe still fails")
	exec1(t, p, "sidecar", "touch", "/flags/sidecar")
	p.WaitReady(10 * time.Second)
	conn, err := c.DialContext(context.Background(), "tcp", "gated:443")
	require.NoError(t, err)
	conn.Close()
}

// TestStop: SIGTERM first; a container that ignores it is killed after the grace period.
func TestStop(t *testing.T) {
	c := newCluster(t)
	stubborn := c.StartPod("stubborn", manifest(t, `
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: main, image: shell, args: ["trap '' TERM; echo trapped; while :; do sleep 0.1; done"]}]`), PodOptions{})
	polite := c.StartPod("polite", manifest(t, echoPod), PodOptions{})
	stubborn.WaitReady(10 * time.Second)
	polite.WaitReady(10 * time.Second)
	waitLog(t, stubborn, "trapped")

	start := time.Now()
	polite.Stop()
	assert.Less(t, time.Since(start), time.Second, "a process that exits on SIGTERM is not waited for")
	start = time.Now()
	stubborn.Stop()
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "the grace period is honoured")
	assert.Less(t, time.Since(start), 5*time.Second)
	assert.Contains(t, stubborn.Logs(), "(terminated: signal: killed)")
}

// TestClaimOutlivesPod: a PersistentVolumeClaim keeps its data across pods, and starts like a
// fresh ext4 volume.
func TestClaimOutlivesPod(t *testing.T) {
	c := newCluster(t)
	const tmpl = `
spec:
  securityContext: {runAsUser: 999, fsGroup: 999}
  volumes: [{name: data, persistentVolumeClaim: {claimName: data-db-0}}]
  containers:
  - name: main
    image: shell
    args: ["exec sleep 3600"]
    volumeMounts: [{name: data, mountPath: /var/lib/data}]`
	first := c.StartPod("db-0", manifest(t, tmpl), PodOptions{})
	first.WaitReady(10 * time.Second)
	assert.Equal(t, "2775 0:999 lost+found", exec1(t, first, "main", "sh", "-c", "echo $(stat -c '%a %u:%g' /var/lib/data) $(ls /var/lib/data)"))
	exec1(t, first, "main", "sh", "-c", "mkdir /var/lib/data/pgdata && echo kept > /var/lib/data/pgdata/file")
	first.Stop()

	second := c.StartPod("db-0", manifest(t, tmpl), PodOptions{})
	second.WaitReady(10 * time.Second)
	assert.Equal(t, "kept", exec1(t, second, "main", "cat", "/var/lib/data/pgdata/file"))
}

// TestTeardownLeavesNothing: after the test, no process, network namespace or mount of the
// cluster is left.
func TestTeardownLeavesNothing(t *testing.T) {
	var netns, dir string
	var pid int
	t.Run("cluster", func(t *testing.T) {
		c := newCluster(t)
		p := c.StartPod("leftover", manifest(t, `
spec:
  volumes: [{name: v, emptyDir: {}}]
  containers: [{name: main, image: shell, args: ["sleep 3600 & exec sleep 3600"], volumeMounts: [{name: v, mountPath: /v}]}]`), PodOptions{})
		p.WaitReady(10 * time.Second)
		netns, dir, pid = p.netns, c.dir, p.containers[0].cmd.Process.Pid
	})
	out, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	assert.NotContains(t, strings.Fields(string(out)), netns, "the sandbox is deleted")
	require.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the container's process is gone")
	mounts, err := mountsUnder(dir)
	require.NoError(t, err)
	assert.Empty(t, mounts)
	_, err = os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "the cluster's files are removed")
}

// TestStaleSandboxesAreSwept: a sandbox left by a test process that was killed (no cleanup ran)
// is deleted, with its processes, by the next run.
func TestStaleSandboxesAreSwept(t *testing.T) {
	newCluster(t) // skips without root
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	name := fmt.Sprintf("kl-%d-1", gone.Process.Pid) // a pid no process has any more
	require.NoError(t, addNetns(name, testClientIP))
	t.Cleanup(func() {
		if _, err := os.Stat(netnsPath(name)); err == nil {
			_ = delNetns(name) // the sweep failed; do not leave it behind
		}
	})
	orphan := exec.Command("ip", "netns", "exec", name, "sleep", "60")
	require.NoError(t, orphan.Start())
	exited := make(chan error, 1)
	go func() { exited <- orphan.Wait() }()
	// `ip netns exec` enters the sandbox after it starts: sweep once the orphan is inside.
	require.Eventually(t, func() bool {
		out, err := runTool(nil, "ip", "netns", "pids", name)
		return err == nil && strings.TrimSpace(string(out)) != ""
	}, 5*time.Second, 20*time.Millisecond, "the orphan never entered its sandbox")

	sweepStale()
	select {
	case err := <-exited:
		require.ErrorContains(t, err, "killed")
	case <-time.After(5 * time.Second):
		_ = orphan.Process.Kill()
		t.Fatal("the orphan still runs")
	}
	_, err := os.Stat(netnsPath(name))
	assert.True(t, os.IsNotExist(err), "the stale sandbox is deleted")
}

// TestRunPod: a Job's pod runs its init containers, then all its containers at once, to
// completion; its sandbox goes when it completes, its logs stay, and a claim it wrote is the
// test's to read.
func TestRunPod(t *testing.T) {
	c := newCluster(t)
	claim := c.ClaimDir("backups")
	assert.Equal(t, claim, c.ClaimDir("backups"), "one directory per claim")
	require.NoError(t, os.WriteFile(filepath.Join(claim, "old.dump"), []byte("old"), 0o644))

	p, err := c.RunPod("backup-1", manifest(t, `
spec:
  restartPolicy: Never
  securityContext: {runAsUser: 999, fsGroup: 999}
  volumes:
  - {name: shared, emptyDir: {}}
  - {name: backups, persistentVolumeClaim: {claimName: backups}}
  initContainers:
  - name: prepare
    image: shell
    args: ["echo prepared > /shared/from-init && echo init ran"]
    volumeMounts: [{name: shared, mountPath: /shared}]
  containers:
  - name: dump
    image: shell
    # waits for the other container: they must run at the same time
    args: ["until test -f /shared/uploaded; do sleep 0.05; done; cat /shared/from-init /backups/old.dump > /backups/new.dump && echo dumped"]
    volumeMounts: [{name: shared, mountPath: /shared}, {name: backups, mountPath: /backups}]
  - name: upload
    image: shell
    args: ["touch /shared/uploaded && echo uploaded"]
    volumeMounts: [{name: shared, mountPath: /shared}]`), PodOptions{Deadline: 10 * time.Second})
	require.NoError(t, err, p.Logs())

	entries, err := os.ReadDir(claim)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"lost+found", "new.dump", "old.dump"}, names)
	dump, err := os.ReadFile(filepath.Join(claim, "new.dump"))
	require.NoError(t, err)
	assert.Equal(t, "prepared\nold", string(dump))

	out, err := exec.Command("ip", "netns", "list").Output()
	require.NoError(t, err)
	assert.NotContains(t, strings.Fields(string(out)), p.netns, "the sandbox of a completed pod is deleted")
	_, err = os.Stat(p.dir)
	assert.True(t, os.IsNotExist(err), "and its files")
	logs := p.Logs()
	for _, want := range []string{
		"=== pod backup-1, init container prepare (terminated: exit 0) ===\ninit ran\n",
		"=== pod backup-1, container dump (terminated: exit 0) ===\ndumped\n",
		"=== pod backup-1, container upload (terminated: exit 0) ===\nuploaded\n",
	} {
		assert.Contains(t, logs, want)
	}
}

// TestRunPodFailures: a Job's pod that fails is reported to the caller, not to the test: a
// container exiting non-zero (after every container has finished), a failing init container, a
// container still running at the deadline.
func TestRunPodFailures(t *testing.T) {
	c := newCluster(t)
	p, err := c.RunPod("failing", manifest(t, `
spec:
  restartPolicy: Never
  containers:
  - {name: sidecar, image: shell, args: ["sleep 0.5; echo sidecar done"]}
  - {name: backup, image: shell, args: ["echo upload refused >&2; exit 3"]}`), PodOptions{})
	require.Error(t, err)
	assert.Equal(t, "pod failing: container backup failed: exit status 3", err.Error())
	assert.Contains(t, p.Logs(), "=== pod failing, container sidecar (terminated: exit 0) ===\nsidecar done\n", "the other container ran to its end")
	assert.Contains(t, p.Logs(), "=== pod failing, container backup (terminated: exit status 3) ===\nupload refused\n")

	p, err = c.RunPod("init-fails", manifest(t, `
spec:
  restartPolicy: Never
  initContainers: [{name: wait-db, image: shell, args: ["exit 2"]}]
  containers: [{name: backup, image: shell, args: ["echo must not run"]}]`), PodOptions{})
	require.EqualError(t, err, "pod init-fails: init container wait-db failed: exit status 2")
	assert.NotContains(t, p.Logs(), "must not run")

	start := time.Now()
	_, err = c.RunPod("stuck", manifest(t, `
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 1
  containers:
  - {name: quick, image: shell, args: ["exit 0"]}
  - {name: hang, image: shell, args: ["exec sleep 3600"]}`), PodOptions{})
	require.EqualError(t, err, "pod stuck: container hang did not finish within the pod's deadline of 1s")
	assert.Less(t, time.Since(start), 5*time.Second, "activeDeadlineSeconds bounds the pod")

	p, err = c.RunPod("stuck-2", manifest(t, `
spec:
  restartPolicy: Never
  activeDeadlineSeconds: 3600
  containers: [{name: hang, image: shell, args: ["exec sleep 3600"]}]`), PodOptions{Deadline: 500 * time.Millisecond})
	require.EqualError(t, err, "pod stuck-2: container hang did not finish within the pod's deadline of 500ms", "PodOptions.Deadline wins")
	assert.Contains(t, p.Logs(), "container hang (terminated: signal: ", "killed at the deadline")
}

// TestPortForward: a host program reaches a Service through the forwarded port, a connection
// without a ready endpoint is refused, and the forward ends with the test, closing the
// connections it carries (if it did not, the test's cleanup would hang).
func TestPortForward(t *testing.T) {
	var addr string
	var open net.Conn // a connection still open when the cluster's test ends
	t.Run("cluster", func(t *testing.T) {
		c := newCluster(t, echoService)
		addr = c.PortForward("echo", 80)
		assert.True(t, strings.HasPrefix(addr, "127.0.0.1:"), addr)
		client := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		_, err := client.Get("http://" + addr + "/")
		require.Error(t, err, "no ready endpoint yet")

		c.StartPod("echo-a", manifest(t, echoPod), PodOptions{}).WaitReady(10 * time.Second)
		resp, err := client.Get("http://" + addr + "/")
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(body), "echo-a "+testClientIP.String()+":"), "%q", body)

		open, err = net.Dial("tcp", addr)
		require.NoError(t, err)
		_, err = open.Write([]byte("GET / HTTP/1.1\r\nHost: echo\r\n\r\n"))
		require.NoError(t, err)
		_, err = open.Read(make([]byte, 1))
		require.NoError(t, err)

		f := &fatalRecorder{TB: t}
		c.t = f
		func() {
			defer func() { _ = recover() }()
			c.PortForward("echo", 81)
		}()
		c.t = t
		assert.Equal(t, "port-forward echo:81: service echo has no port 81", f.message)
	})
	_, err := net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "the listener is closed with the test")
	require.NotNil(t, open)
	defer open.Close()
	require.NoError(t, open.SetReadDeadline(time.Now().Add(5*time.Second)))
	_, err = io.ReadAll(open)
	assert.NotErrorIs(t, err, os.ErrDeadlineExceeded, "the open connection is closed with the test")
}

// TestExecStreams: exec feeds stdin to the command and keeps its stdout apart from its stderr.
func TestExecStreams(t *testing.T) {
	c := newCluster(t)
	p := c.StartPod("tools", manifest(t, `
spec:
  securityContext: {runAsUser: 1000}
  containers: [{name: main, image: shell, args: ["exec sleep 3600"]}]`), PodOptions{})
	p.WaitReady(10 * time.Second)

	out, err := p.ExecInput("main", strings.NewReader("hello\n"), "tr", "a-z", "A-Z")
	require.NoError(t, err)
	assert.Equal(t, "HELLO\n", out)
	big := strings.Repeat("x", 1<<20)
	assert.Equal(t, "1048576", strings.TrimSpace(must(p.ExecInput("main", strings.NewReader(big), "wc", "-c"))), "all of stdin arrives")
	assert.Empty(t, must(p.Exec("main", "cat")), "Exec gives an empty stdin")

	var stdout, stderr strings.Builder
	err = p.ExecStreams("main", strings.NewReader("data"), &stdout, &stderr, "sh", "-c", "cat; echo oops $(id -u) >&2; exit 3")
	require.EqualError(t, err, "exit status 3")
	assert.Equal(t, "data", stdout.String())
	assert.Equal(t, "oops 1000\n", stderr.String())
}

func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}
