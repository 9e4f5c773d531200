package live

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

const (
	awsCLIImage = "amazon/aws-cli:2.27.0"
	fakeS3Image = "test/fakes3"
	// The backup-s3 live mode uploads to an S3-compatible store: fakes3 behind a Service.
	fakeS3Bucket = "certctl-backups"
)

// TestLiveBackup takes a backup with the rendered CronJob's pod against the real PostgreSQL
// holding data the v2.1.7 server wrote, loses the database, restores it with the runbook's
// commands as written, compares every row of every table, and starts the servers on it.
func TestLiveBackup(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	requireAWSCLI(t)
	t.Run("pvc", func(t *testing.T) {
		t.Parallel()
		m := tests.ModeNamed(t, "backup-pvc")
		m.Config = tests.DeepMerge(m.Config, map[string]any{"backup": map[string]any{"pvc": map[string]any{"keepLast": 2}}})
		d := newLiveDeployment(t, m, bins, pgBin)
		// Two dumps from earlier runs: with keepLast 2, the run deletes the older one.
		claim := d.cluster.ClaimDir("certctl-backup")
		for _, old := range []string{"certctl-20250101T023000Z.dump", "certctl-20250102T023000Z.dump", ".certctl-20250103T023000Z.dump.partial"} {
			require.NoError(t, os.WriteFile(filepath.Join(claim, old), []byte("old"), 0o644))
		}
		backupRoundTrip(t, d, func(t *testing.T) {
			entries, err := os.ReadDir(claim)
			require.NoError(t, err)
			var names []string
			for _, e := range entries {
				if e.Name() != "lost+found" { // a fresh volume's
					names = append(names, e.Name())
				}
			}
			require.Len(t, names, 2, "keepLast 2, and no partial file left: %v", names)
			assert.Equal(t, "certctl-20250102T023000Z.dump", names[0])
			assert.Regexp(t, `^certctl-\d{8}T\d{6}Z\.dump$`, names[1])
		}, "pvc-list", "pvc-restore")
	})
	t.Run("s3", func(t *testing.T) {
		t.Parallel()
		m := tests.ModeNamed(t, "backup-s3")
		m.Config = tests.DeepMerge(m.Config, map[string]any{"backup": map[string]any{"s3": map[string]any{
			"create": false, "bucket": fakeS3Bucket, "endpoint": "http://fake-s3:9000", "region": "us-east-1",
			"credentials": "existingSecret", "oidcProviderArn": "",
		}}})
		d := newLiveDeployment(t, m, bins, pgBin)
		startFakeS3(t, d)
		endpoint := "http://" + d.cluster.PortForward("fake-s3", 9000)
		awsEnv := []string{"AWS_ACCESS_KEY_ID=backup", "AWS_SECRET_ACCESS_KEY=backup-secret", "AWS_REGION=us-east-1", "S3_ENDPOINT=" + endpoint}
		backupRoundTrip(t, d, func(t *testing.T) {
			out, err := awsCommand(awsEnv, "--endpoint-url", endpoint, "s3api", "list-objects-v2", "--bucket", fakeS3Bucket,
				"--prefix", "certctl/", "--query", "Contents[].Key", "--output", "text").CombinedOutput()
			require.NoError(t, err, "%s", out)
			keys := strings.Fields(string(out))
			require.Len(t, keys, 1)
			assert.Regexp(t, `^certctl/certctl-\d{8}T\d{6}Z\.dump$`, keys[0])
			out, err = awsCommand(awsEnv, "--endpoint-url", endpoint, "s3api", "head-object", "--bucket", fakeS3Bucket,
				"--key", keys[0], "--query", "ServerSideEncryption", "--output", "text").CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Equal(t, "AES256", strings.TrimSpace(string(out)), "the uploader asks for server-side encryption")
		}, "s3-list", "s3-restore", awsEnv...)
	})
}

// backupRoundTrip loads data through the server, quiesces it, snapshots every table, runs the
// CronJob's pod, checks what it stored, replaces the database with an empty one, runs the
// runbook blocks and checks that the restored database equals the snapshot before the servers
// start on it.
// backupRunbook is the runbook whose blocks the round trip runs as written.
var backupRunbook = filepath.Join(tests.ProjectRoot(), "docs", "runbooks", "backup-restore.md")

func backupRoundTrip(t *testing.T, d *liveDeployment, stored func(*testing.T), listBlock, restoreBlock string, env ...string) {
	admin := d.render.Outputs["apiKey"].Value.(string)
	d.waitAgentsOnline(t, admin)
	status, body := d.call(t, "POST", "/api/v1/agent-groups", admin, map[string]any{"name": "before-backup"})
	require.Equal(t, 201, status, "%s", body)
	for _, p := range d.agents {
		p.Stop()
	}
	d.stopServers()
	before := d.tables(t)
	require.Contains(t, before, "agents")
	require.NotEmpty(t, before["agents"], "the agents registered before the backup")

	cj, ok := d.object("CronJob", "certctl-backup")
	require.True(t, ok)
	pod, err := d.cluster.RunPod("certctl-backup-manual", tests.Path(cj, "spec", "jobTemplate", "spec", "template").(map[string]any), kubelet.PodOptions{})
	require.NoError(t, err, "the backup Job must succeed:\n%s", pod.Logs())
	assert.Contains(t, pod.Logs(), "dumped and checked certctl-")
	stored(t)

	// The database is lost: its volume is empty again and Postgres initialises a new one.
	d.postgres.Stop()
	data := d.cluster.ClaimDir("data-certctl-postgres-0")
	require.NoError(t, os.RemoveAll(data))
	require.NoError(t, os.Mkdir(data, 0o755))
	d.startPostgres(t)
	require.NotContains(t, d.tables(t), "agents", "the new database is empty")

	sh := newRunbookShell(t, d, env...)
	sh.beforeScaleUp = func() {
		assert.Equal(t, before, d.tables(t), "every row of every table is restored")
	}
	listed := sh.run(runbookBlock(t, backupRunbook, listBlock))
	assert.Regexp(t, `certctl-\d{8}T\d{6}Z\.dump`, listed)
	sh.run(runbookBlock(t, backupRunbook, restoreBlock))

	require.NotEmpty(t, d.servers, "the runbook scaled the servers up again")
	status, body = d.call(t, "GET", "/api/v1/agent-groups", admin, nil)
	require.Equal(t, 200, status, "%s", body)
	assert.Contains(t, string(body), "before-backup", "the restored data is served")
}

// tables is every row of every table of the database's public schema, in a stable order.
func (d *liveDeployment) tables(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	list := d.psql(t, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
	for _, table := range strings.Fields(list) {
		out[table] = d.psql(t, `COPY (SELECT * FROM public."`+table+`" AS r ORDER BY r::text) TO STDOUT`)
	}
	return out
}

// startFakeS3 runs the S3-compatible store the backup-s3 live mode uploads to, with the access
// key Secret the mode names (backup.s3.credentialsSecret's defaults).
func startFakeS3(t *testing.T, d *liveDeployment) {
	labels := map[string]any{"app": "fake-s3"}
	d.cluster.AddObject(map[string]any{
		"apiVersion": "v1", "kind": "Service",
		"metadata": map[string]any{"name": "fake-s3", "namespace": liveNamespace},
		"spec":     map[string]any{"selector": labels, "ports": []any{map[string]any{"port": 9000, "targetPort": 9000}}},
	})
	d.cluster.AddObject(map[string]any{
		"apiVersion": "v1", "kind": "Secret",
		"metadata":   map[string]any{"name": "certctl-backup-aws-creds", "namespace": liveNamespace},
		"stringData": map[string]any{"AWS_ACCESS_KEY_ID": "backup", "AWS_SECRET_ACCESS_KEY": "backup-secret"},
	})
	pod := d.cluster.StartPod("fake-s3-0", map[string]any{
		"metadata": map[string]any{"labels": labels},
		"spec": map[string]any{"containers": []any{map[string]any{
			"name": "s3", "image": fakeS3Image, "args": []any{"-listen", ":9000", "-bucket", fakeS3Bucket},
			"ports":          []any{map[string]any{"containerPort": 9000}},
			"readinessProbe": map[string]any{"tcpSocket": map[string]any{"port": 9000}},
		}}},
	}, kubelet.PodOptions{})
	pod.WaitReady(liveTimeout)
}

// awsCLI is the AWS CLI v2 of the Debian package (a v1 elsewhere on PATH would differ).
const awsCLI = "/usr/bin/aws"

func requireAWSCLI(t *testing.T) {
	if _, err := os.Stat(awsCLI); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the backup live test needs the AWS CLI (Debian package awscli): %v", err)
		}
		t.Skipf("no AWS CLI at %s (apt-get install awscli; CI installs it)", awsCLI)
	}
}

func awsCommand(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(awsCLI, args...)
	cmd.Env = append(slices.Clone(env), "PATH=/usr/bin:/bin", "HOME="+os.TempDir())
	return cmd
}

var (
	fakeS3Once sync.Once
	fakeS3Bin  string
	fakeS3Err  error
)

// fakeS3Binary builds tests/fakes3 once per test process.
func fakeS3Binary(t *testing.T) string {
	fakeS3Once.Do(func() {
		dir, err := os.MkdirTemp("", "fakes3-")
		if err != nil {
			fakeS3Err = err
			return
		}
		fakeS3Bin = filepath.Join(dir, "fakes3")
		out, err := exec.Command("go", "build", "-o", fakeS3Bin, "github.com/certctl-io/certctl-pulumi/tests/fakes3").CombinedOutput()
		if err != nil {
			fakeS3Err = err
			fakeS3Bin = string(out)
		}
	})
	require.NoError(t, fakeS3Err, "building tests/fakes3: %s", fakeS3Bin)
	return fakeS3Bin
}
