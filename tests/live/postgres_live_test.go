package live

import (
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// TestBundledPostgresLive runs what the program renders for the bundled Postgres against a real
// PostgreSQL server: the container's arguments (TLS, postgresqlConfig), its readiness probe,
// the TLS key file as kubelet presents it (root-owned, 0440, group = fsGroup), and the server's
// database URL as rendered, under sslmode=verify-full.
// .ci/run installs PostgreSQL; without it the test is skipped locally and fails under CI.
func TestBundledPostgresLive(t *testing.T) {
	bin := certctlbin.PostgresBinDir(t)
	r := tests.RenderMode(t, "all-on")
	sts := r.Object(t, "StatefulSet", "certctl-postgres").Manifest()
	container := tests.Path(sts, "spec", "template", "spec", "containers", 0)
	pgSecret := tests.Path(r.Object(t, "Secret", "certctl-postgres").Manifest(), "stringData").(map[string]any)
	serverSecret := tests.Path(r.Object(t, "Secret", "certctl-server").Manifest(), "stringData").(map[string]any)
	password := pgSecret["password"].(string)

	dir := t.TempDir()
	owner := postgresOwner(t, dir)
	data, run, tlsDir := filepath.Join(dir, "pgdata"), filepath.Join(dir, "run"), filepath.Join(dir, "tls")
	for _, d := range []string{run, tlsDir} {
		require.NoError(t, os.Mkdir(d, 0o750))
		owner.chown(t, d)
	}
	caFile := writeTLS(t, tlsDir, "certctl-postgres")
	owner.keyLikeKubelet(t, filepath.Join(tlsDir, "tls.key"))
	owner.keyLikeKubelet(t, filepath.Join(tlsDir, "tls.crt"))

	// What the image's entrypoint does on an empty volume: initdb with POSTGRES_USER as the
	// superuser, POSTGRES_PASSWORD, POSTGRES_INITDB_ARGS and password auth for TCP.
	pwFile := filepath.Join(dir, "pwfile")
	require.NoError(t, os.WriteFile(pwFile, []byte(password), 0o600))
	owner.chown(t, pwFile)
	owner.chown(t, dir)
	initArgs := []string{"-D", data, "-U", pgSecret["username"].(string), "--pwfile", pwFile, "--auth-host=scram-sha-256", "--auth-local=trust"}
	initArgs = append(initArgs, strings.Fields(envValue(container, "POSTGRES_INITDB_ARGS"))...)
	owner.run(t, filepath.Join(bin, "initdb"), initArgs...)

	port := certctlbin.FreePort(t)
	args := rewrite(stringsOf(tests.Path(container, "args")), map[string]string{"/etc/postgresql-tls": tlsDir, "5432": port})
	require.Equal(t, "postgres", args[0])
	server := owner.command(filepath.Join(bin, "postgres"), append(args[1:], "-D", data, "-k", run, "-c", "listen_addresses=127.0.0.1")...)
	logFile, err := os.Create(filepath.Join(t.TempDir(), "postgres.log"))
	require.NoError(t, err)
	server.Stdout, server.Stderr = logFile, logFile
	// Its own process group: as root the server runs under runuser, and killing runuser alone
	// would leave postgres running after the test.
	server.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, server.Start())
	t.Cleanup(func() { _ = syscall.Kill(-server.Process.Pid, syscall.SIGKILL); _ = server.Wait() })

	probe := rewrite(stringsOf(tests.Path(container, "readinessProbe", "exec", "command")), map[string]string{"5432": port})
	require.Equal(t, "pg_isready", probe[0])
	waitReady(t, filepath.Join(bin, "pg_isready"), probe[1:], logFile.Name())
	owner.run(t, filepath.Join(bin, "psql"), "-h", run, "-p", port, "-U", pgSecret["username"].(string), "-d", "postgres",
		"-c", "CREATE DATABASE "+pgSecret["database"].(string))

	// The URL is complete as rendered (nothing for kubelet to expand); the Service name resolves
	// to the pod, here loopback (hostaddr keeps the name for verify-full).
	url := serverSecret["database-url"].(string)
	require.NotContains(t, url, "$(", "kubelet never expands a value read from a Secret")
	url = strings.Replace(url, ":5432/", ":"+port+"/", 1) + "&hostaddr=127.0.0.1"
	require.Contains(t, url, "sslmode=verify-full")
	psql := exec.Command(filepath.Join(bin, "psql"), url, "-tAc", "SELECT ssl, current_setting('max_connections') FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
	psql.Env = append(os.Environ(), "PGSSLROOTCERT="+caFile) // the server's PGSSLROOTCERT, pointed at this CA
	out, err := psql.CombinedOutput()
	require.NoError(t, err, "connecting with the rendered database URL: %s", out)
	require.Equal(t, "t|200", strings.TrimSpace(string(out)), "TLS in use and postgresqlConfig applied")
}

// pgOwner runs the server as a non-root user (postgres refuses root) and sets file ownership the
// way kubelet would for a pod with fsGroup.
type pgOwner struct {
	asRoot   bool
	uid, gid int
}

func postgresOwner(t *testing.T, dir string) pgOwner {
	t.Helper()
	if os.Geteuid() != 0 {
		return pgOwner{uid: os.Getuid(), gid: os.Getgid()}
	}
	u, err := user.Lookup("postgres")
	require.NoError(t, err, "running as root needs the postgres user of the postgresql package")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	// The temp dir's parents must be traversable by that user.
	for d := dir; d != "/" && d != "."; d = filepath.Dir(d) {
		if info, err := os.Stat(d); err == nil && info.Mode().Perm()&0o001 == 0 {
			require.NoError(t, os.Chmod(d, info.Mode().Perm()|0o011))
		}
	}
	return pgOwner{asRoot: true, uid: uid, gid: gid}
}

func (o pgOwner) chown(t *testing.T, p string) {
	t.Helper()
	if o.asRoot {
		require.NoError(t, os.Chown(p, o.uid, o.gid))
	}
}

// keyLikeKubelet: a Secret volume with defaultMode 0400 and fsGroup arrives root-owned, group
// fsGroup, mode 0440.
func (o pgOwner) keyLikeKubelet(t *testing.T, p string) {
	t.Helper()
	if o.asRoot {
		require.NoError(t, os.Chown(p, 0, o.gid))
		require.NoError(t, os.Chmod(p, 0o440))
		return
	}
	require.NoError(t, os.Chmod(p, 0o600)) // non-root: postgres then wants owner-only
}

func (o pgOwner) command(name string, args ...string) *exec.Cmd {
	if o.asRoot {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (o pgOwner) run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := o.command(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

func waitReady(t *testing.T, pgIsReady string, args []string, logFile string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if exec.Command(pgIsReady, args...).Run() == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logFile)
			t.Fatalf("postgres not ready with the rendered probe %v; server log:\n%s", args, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// writeTLS writes a server certificate for name, its key and its CA (the test PKI's) as a TLS
// Secret's files; it returns the CA file.
func writeTLS(t *testing.T, dir, name string) string {
	t.Helper()
	for file, content := range newTestPKI(t).tlsSecret("tls", name)["stringData"].(map[string]any) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, file), []byte(content.(string)), 0o600))
	}
	return filepath.Join(dir, "ca.crt")
}

func envValue(container any, name string) string {
	for _, e := range tests.Path(container, "env").([]any) {
		if tests.Path(e, "name") == name {
			v, _ := tests.Path(e, "value").(string)
			return v
		}
	}
	return ""
}

// rewrite maps container paths and ports onto the test's: exact values, or path prefixes.
func rewrite(args []string, m map[string]string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		for from, to := range m {
			if a == from {
				out[i] = to
			} else if strings.HasPrefix(from, "/") {
				out[i] = strings.ReplaceAll(out[i], from, to)
			}
		}
	}
	return out
}
