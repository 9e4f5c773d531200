package components

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// componentPasswordChange labels the pods of the Job that applies a new password to the role.
const componentPasswordChange = "postgres-password"

// The password reaches Postgres once, at initdb; afterwards the role keeps whatever it has. So a
// new password (given, or generated again by passwordRotation) is first applied to the running
// database by a Job, and only then handed on: the Secret <postgres>-current records the password
// the role has, and the server, which depends on this component, rolls onto the new URL after it.
//
// The Job signs in with the new password if the role has it already (a first install, where
// initdb set it, or a re-run), else with the current one to ALTER ROLE. Its name ends in a keyed
// digest of the new password, so each new password is a new Job and nothing else is.
func newPasswordChange(ctx *pulumi.Context, name string, a *BundledPostgresArgs, password pulumi.StringOutput, deps []pulumi.Resource, opts ...pulumi.ResourceOption) (*batchv1.Job, error) {
	jobName := pulumi.Unsecret(pulumi.All(password, a.ChecksumKey).ApplyT(func(v []any) string {
		mac := hmac.New(sha256.New, []byte(v[1].(string)))
		mac.Write([]byte(v[0].(string)))
		return a.PasswordJobPrefix + config.DigestSuffix(hex.EncodeToString(mac.Sum(nil)))
	})).(pulumi.StringOutput)
	meta := a.Release.objectMeta(a.PasswordJobPrefix, componentPasswordChange, map[string]string{"pulumi.com/replaceUnready": "true"})
	meta.Name = jobName
	job, err := batchv1.NewJob(ctx, name+"-password-change", &batchv1.JobArgs{Metadata: meta, Spec: passwordChangeJobSpec(a)},
		append(opts, pulumi.DependsOn(deps), waitFor(config.JobWait(passwordChangeDeadlineSeconds)))...)
	if err != nil {
		return nil, err
	}
	_, err = corev1.NewSecret(ctx, name+"-current", &corev1.SecretArgs{
		Metadata:   a.Release.objectMeta(currentPasswordSecret(a), componentPostgres, nil),
		Type:       pulumi.String("Opaque"),
		StringData: pulumi.StringMap{keyPostgresPassword: password},
	}, append(opts, pulumi.DependsOn([]pulumi.Resource{job}))...)
	return job, err
}

// passwordChangeDeadlineSeconds bounds the password-change Job: one ALTER ROLE, retried twice.
const passwordChangeDeadlineSeconds = 600

// currentPasswordSecret holds the password the role has, for the next change to sign in with.
func currentPasswordSecret(a *BundledPostgresArgs) string { return a.Name + "-current" }

// passwordChangeEnv signs in as the role with the current password and sets the new one.
func passwordChangeEnv(a *BundledPostgresArgs) []envEntry {
	pg := a.PostgreSQL
	return append(libpqEnv(a.Name, pg.Service.Port, pg.Auth.Username, pg.Auth.Database),
		refEnv("NEW_PASSWORD", config.SecretKeyRef{Name: a.Name, Key: keyPostgresPassword}, false).setBy("postgresql.auth.password"),
		// Absent on a first install: nothing to change from.
		refEnv("CURRENT_PASSWORD", config.SecretKeyRef{Name: currentPasswordSecret(a), Key: keyPostgresPassword}, true),
		// psql writes its history and temporary files under HOME.
		literalEnv("HOME", pulumi.String("/tmp")))
}

func passwordChangeJobSpec(a *BundledPostgresArgs) *batchv1.JobSpecArgs {
	pg := a.PostgreSQL
	c := workloadContainer("change", pg.Workload)
	c.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", passwordChangeScript})
	c.Env = envVars(passwordChangeEnv(a), "", "")
	c.VolumeMounts = corev1.VolumeMountArray{mount("tmp", "/tmp")}
	spec := workloadPodSpec(a.Release, pg.Workload)
	spec.EnableServiceLinks = pulumi.Bool(false)
	spec.Containers = corev1.ContainerArray{c}
	spec.Volumes = volumesInput(nil, emptyDirVolume("tmp", ""))
	return jobSpec(a.Release, componentPasswordChange, 2, passwordChangeDeadlineSeconds, nil, &spec)
}

// passwordChangeScript makes the role's password NEW_PASSWORD: idempotent, and it waits (about
// five minutes) for a database that is still starting. psql's variables quote the role name and
// the password, so any password is safe in the statement.
const passwordChangeScript = `set -eu
signs_in() { PGPASSWORD="$1" psql -w -X -q -tA -c 'SELECT 1' >/dev/null 2>&1; }
for attempt in $(seq 60); do
  if signs_in "$NEW_PASSWORD"; then
    echo "the role $PGUSER has the new password"
    exit 0
  fi
  if [ -n "${CURRENT_PASSWORD:-}" ] && signs_in "$CURRENT_PASSWORD"; then
    printf '%s\n' 'ALTER ROLE :"role" WITH PASSWORD :'"'"'new'"'"';' |
      PGPASSWORD="$CURRENT_PASSWORD" psql -w -X -q -v ON_ERROR_STOP=1 -v role="$PGUSER" -v new="$NEW_PASSWORD"
    echo "changed the password of $PGUSER"
    continue
  fi
  echo "attempt $attempt: neither the new nor the current password signs in yet"
  sleep 5
done
echo "gave up: the database accepts neither password (see docs/runbooks/postgres-password.md)" >&2
exit 1
`
