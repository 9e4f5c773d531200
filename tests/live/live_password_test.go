package live

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/certctlbin"
)

// TestLivePasswordChange changes the bundled database's password the way `pulumi up` applies
// the new render: the Secrets the Job reads first, then the Job, then the current-password
// Secret, then the server rollout; against the real PostgreSQL and v2.1.7, nothing is lost and
// the old password stops working.
func TestLivePasswordChange(t *testing.T) {
	bins := certctlbin.Binaries(t)
	pgBin := certctlbin.PostgresBinDir(t)
	withPassword := func(pw string) tests.Mode {
		m := tests.ModeNamed(t, "default")
		m.Config = tests.DeepMerge(m.Config, map[string]any{"postgresql": map[string]any{"auth": map[string]any{"password": pw}}})
		m.Secret = append(m.Secret, "postgresql")
		return m
	}
	d := newLiveDeployment(t, withPassword("first-password-1"), bins, pgBin)
	admin := d.render.Outputs["apiKey"].Value.(string)
	status, body := d.call(t, "POST", "/api/v1/agent-groups", admin, map[string]any{"name": "before-password-change"})
	require.Equal(t, 201, status, "%s", body)
	before := d.tables(t)["agent_groups"]

	next, err := tests.RunWithRealKeys(t, withPassword("second 'password' $2").Stack(t))
	require.NoError(t, err)
	d.render = next
	for _, name := range []string{"certctl-postgres", "certctl-server"} {
		secret, _ := d.object("Secret", name)
		d.cluster.AddObject(secret)
	}
	logs := d.runPasswordChange(t)
	assert.Contains(t, logs, "changed the password of certctl")
	current, _ := d.object("Secret", "certctl-postgres-current")
	d.cluster.AddObject(current)
	d.rollServers(t)

	status, body = d.call(t, "GET", "/api/v1/agent-groups", admin, nil)
	require.Equal(t, 200, status, "%s", body)
	assert.Contains(t, string(body), "before-password-change")
	assert.Equal(t, before, d.tables(t)["agent_groups"], "no data lost")
	assert.False(t, d.signsIn(t, "first-password-1"), "the old password is refused")
	assert.True(t, d.signsIn(t, "second 'password' $2"))
	assert.Contains(t, d.runPasswordChange(t), "has the new password", "a re-run changes nothing")
}

// signsIn reports whether the role accepts a password over TCP, as the server connects.
func (d *liveDeployment) signsIn(t *testing.T, password string) bool {
	_, err := d.postgres.Exec("postgres", "sh", "-c", `PGPASSWORD="$0" psql -w -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -c 'SELECT 1'`, password)
	return err == nil
}
