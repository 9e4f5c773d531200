package loadserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// postgres is a PostgreSQL server started as the rendered StatefulSet's container would be: its
// superuser, password and database from the rendered Secret, its arguments (the tier's
// postgresqlConfig), listening on loopback only.
type postgres struct {
	addr     string // host:port the server's database URL points at
	database string
	dataDir  string
	session  *psql
}

// startPostgres initialises a data directory in a temporary directory the way the image's
// entrypoint does and starts the server; the test stops it.
func startPostgres(t *testing.T, h host, r *tests.Render) *postgres {
	t.Helper()
	c := r.StatefulSet(t, "certctl-postgres").Spec.Template.Spec.Containers[0]
	env := containerEnv(t, r, c)
	dir := t.TempDir()
	makeTraversable(t, dir)
	data, sockets := filepath.Join(dir, "pgdata"), filepath.Join(dir, "run")
	require.NoError(t, os.Mkdir(sockets, 0o700))
	pwFile := filepath.Join(dir, "pwfile")
	require.NoError(t, os.WriteFile(pwFile, []byte(env["POSTGRES_PASSWORD"]), 0o600))
	chownToPostgres(t, dir, sockets, pwFile)

	initArgs := []string{"-D", data, "-U", env["POSTGRES_USER"], "--pwfile", pwFile, "--auth-host=scram-sha-256", "--auth-local=trust"}
	runAsPostgres(t, filepath.Join(h.pgBin, "initdb"), append(initArgs, strings.Fields(env["POSTGRES_INITDB_ARGS"])...)...)

	port := certctlbin.FreePort(t)
	require.Equal(t, "postgres", c.Args[0], "the container runs postgres")
	args := append(replaceAll(c.Args[1:], "5432", port), "-D", data, "-k", sockets, "-c", "listen_addresses=127.0.0.1")
	startPostgresServer(t, filepath.Join(h.pgBin, "postgres"), args, filepath.Join(dir, "postgres.log"))
	probe := replaceAll(c.ReadinessProbe.Exec.Command, "5432", port)
	require.Equal(t, "pg_isready", probe[0])
	waitPostgres(t, filepath.Join(h.pgBin, probe[0]), probe[1:], filepath.Join(dir, "postgres.log"))

	session := openPSQL(t, filepath.Join(h.pgBin, "psql"), sockets, port, env["POSTGRES_USER"], "postgres")
	session.exec(t, "CREATE DATABASE "+env["POSTGRES_DB"])
	session.close()
	return &postgres{
		addr:     "127.0.0.1:" + port,
		database: env["POSTGRES_DB"],
		dataDir:  data,
		session:  openPSQL(t, filepath.Join(h.pgBin, "psql"), sockets, port, env["POSTGRES_USER"], env["POSTGRES_DB"]),
	}
}

// setting is a server setting's current value.
func (p *postgres) setting(t *testing.T, name string) string {
	t.Helper()
	return p.session.value(t, "SELECT current_setting('"+name+"')")
}

// postmasterPID is the server's main process, from postmaster.pid.
func (p *postgres) postmasterPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(p.dataDir, "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// startPostgresServer starts postgres in its own process group (as root it runs under runuser,
// which alone would not take postgres down with it) and stops it with a fast shutdown.
func startPostgresServer(t *testing.T, bin string, args []string, logPath string) {
	t.Helper()
	log, err := os.Create(logPath)
	require.NoError(t, err)
	cmd := asPostgres(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		log.Close()
	})
}

// waitPostgres runs the rendered readiness probe until it passes, for at most 30 s.
func waitPostgres(t *testing.T, pgIsReady string, args []string, logPath string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for exec.Command(pgIsReady, args...).Run() != nil {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("postgres not ready after 30 s with the rendered probe %v; its log:\n%s", args, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// asPostgres runs a PostgreSQL program as the postgres user when the test runs as root
// (postgres refuses root), else as the test's own user.
func asPostgres(name string, args ...string) *exec.Cmd {
	if os.Geteuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func runAsPostgres(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := asPostgres(name, args...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", name, args, out)
}

// chownToPostgres gives the paths to the postgres user when the test runs as root.
func chownToPostgres(t *testing.T, paths ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	u, err := user.Lookup("postgres")
	require.NoError(t, err, "running as root needs the postgres user of the postgresql package")
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	for _, p := range paths {
		require.NoError(t, os.Chown(p, uid, gid))
	}
}

// makeTraversable lets other users reach dir through its parents (t.TempDir makes them 0700).
func makeTraversable(t *testing.T, dir string) {
	t.Helper()
	if os.Geteuid() != 0 {
		return
	}
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		if info, err := os.Stat(d); err == nil && info.Mode().Perm()&0o001 == 0 {
			require.NoError(t, os.Chmod(d, info.Mode().Perm()|0o011))
		}
	}
}

// replaceAll replaces every argument equal to from.
func replaceAll(args []string, from, to string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = a
		if a == from {
			out[i] = to
		}
	}
	return out
}

// psql is one long-lived psql session over the Unix socket, as the superuser: sampling through
// it opens no connection per sample, and it is one known backend to leave out of the counts.
type psql struct {
	mu   sync.Mutex
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	pipe *os.File
}

// endMarker follows every query's output.
const endMarker = "--end-of-query--"

func openPSQL(t *testing.T, bin, sockets, port, user, database string) *psql {
	t.Helper()
	cmd := exec.Command(bin, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=0", "-h", sockets, "-p", port, "-U", user, "-d", database)
	in, err := cmd.StdinPipe()
	require.NoError(t, err)
	r, w, err := os.Pipe()
	require.NoError(t, err)
	cmd.Stdout, cmd.Stderr = w, w
	require.NoError(t, cmd.Start())
	w.Close()
	p := &psql{cmd: cmd, in: in, out: bufio.NewScanner(r), pipe: r}
	p.out.Buffer(make([]byte, 0, 64*1024), 1<<20)
	t.Cleanup(p.close)
	return p
}

// query runs one statement and returns its rows, columns separated by |.
func (p *psql) query(sql string) ([]string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := fmt.Fprintf(p.in, "%s;\n\\echo %s\n", sql, endMarker); err != nil {
		return nil, err
	}
	var rows []string
	var failure error
	for p.out.Scan() {
		line := p.out.Text()
		switch {
		case line == endMarker:
			return rows, failure
		case strings.HasPrefix(line, "ERROR:") || strings.HasPrefix(line, "psql:"):
			failure = errors.Join(failure, errors.New(line))
		default:
			rows = append(rows, line)
		}
	}
	return nil, fmt.Errorf("psql ended: %v", p.out.Err())
}

// exec runs a statement that must succeed.
func (p *psql) exec(t *testing.T, sql string) {
	t.Helper()
	_, err := p.query(sql)
	require.NoError(t, err, sql)
}

// value runs a query of one row and one column.
func (p *psql) value(t *testing.T, sql string) string {
	t.Helper()
	rows, err := p.query(sql)
	require.NoError(t, err, sql)
	require.Len(t, rows, 1, sql)
	return rows[0]
}

func (p *psql) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.in != nil {
		p.in.Close()
		_ = p.cmd.Wait()
		p.pipe.Close()
		p.in = nil
	}
}
