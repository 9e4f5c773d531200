package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi-go-provider/infer"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	perrors "github.com/pulumi/pulumi/sdk/v3/go/pulumi/errors"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/program"
)

// Certctl is the component certctl:index:Certctl; its outputs are the Go program's stack
// outputs (program/outputs.go, the README's "Stack outputs"), those a configuration does not
// produce null. (No output is tagged optional: the SDK would take ",optional" into the name.)
type Certctl struct {
	pulumi.ResourceState

	Namespace           pulumi.StringOutput    `pulumi:"namespace"`
	ServerServiceName   pulumi.StringOutput    `pulumi:"serverServiceName"`
	ServerDNSName       pulumi.StringOutput    `pulumi:"serverDnsName"`
	ServerURL           pulumi.StringOutput    `pulumi:"serverUrl"`
	ServerSecretName    pulumi.StringOutput    `pulumi:"serverSecretName"`
	TLSSecretName       pulumi.StringOutput    `pulumi:"tlsSecretName"`
	APIKey              pulumi.StringOutput    `pulumi:"apiKey" provider:"secret"`
	AgentAPIKey         pulumi.StringOutput    `pulumi:"agentApiKey" provider:"secret"`
	AgentBootstrapToken pulumi.StringOutput    `pulumi:"agentBootstrapToken" provider:"secret"`
	LocalCACert         pulumi.StringPtrOutput `pulumi:"localCaCert"`
	PostgresSecretName  pulumi.StringPtrOutput `pulumi:"postgresSecretName"`
	Postgres            PostgresPtrOutput      `pulumi:"postgres"`
	MigrationJobName    pulumi.StringPtrOutput `pulumi:"migrationJobName"`
	BackupCronJobName   pulumi.StringPtrOutput `pulumi:"backupCronJobName"`
	BackupClaimName     pulumi.StringPtrOutput `pulumi:"backupClaimName"`
	BackupBucket        pulumi.StringPtrOutput `pulumi:"backupBucket"`
	BackupLocation      pulumi.StringPtrOutput `pulumi:"backupLocation"`
	NextSteps           pulumi.StringOutput    `pulumi:"nextSteps"`
}

// Annotate sets the component's token and documents its outputs.
func (c *Certctl) Annotate(a infer.Annotator) {
	a.SetToken("index", "Certctl")
	a.Describe(c, "The whole certctl deployment (server, database, agents, and what the configuration enables), "+
		"the same objects the Go program deploys for the same configuration.")
	a.Describe(&c.Namespace, "The namespace every object is in.")
	a.Describe(&c.ServerServiceName, "The server's Service, <fullname>-server.")
	a.Describe(&c.ServerDNSName, "The server's cluster DNS name, <service>.<namespace>.svc.cluster.local.")
	a.Describe(&c.ServerURL, "The server's in-cluster URL, https://<dns name>:<server.service.port>.")
	a.Describe(&c.ServerSecretName, "The server's Secret, <fullname>-server.")
	a.Describe(&c.TLSSecretName, "The server's TLS Secret.")
	a.Describe(&c.APIKey, "The admin key: the first (newest) entry of server.auth.apiKey.")
	a.Describe(&c.AgentAPIKey, "The agents' key (server.auth.agentApiKey).")
	a.Describe(&c.AgentBootstrapToken, "The token agents register with (server.auth.agentBootstrapToken).")
	a.Describe(&c.LocalCACert, "The generated local issuer CA certificate (PEM); unset with server.issuer.local.existingSecret.")
	a.Describe(&c.PostgresSecretName, "The bundled Postgres' Secret; unset with an external database.")
	a.Describe(&c.Postgres, "The bundled Postgres: host, port, database, username, sslmode and passwordSecret "+
		"(the Secret and key holding the password, never the password); unset with an external database.")
	a.Describe(&c.MigrationJobName, "The current migration Job; with migrations.viaHook.")
	a.Describe(&c.BackupCronJobName, "The backup CronJob; with backup.enabled.")
	a.Describe(&c.BackupClaimName, "The claim dumps go to; backup sink pvc.")
	a.Describe(&c.BackupBucket, "The bucket dumps go to; backup sink s3.")
	a.Describe(&c.BackupLocation, "s3://<bucket>/<prefix>, where dumps go; backup sink s3.")
	a.Describe(&c.NextSteps, "Commands to check and reach the deployment (the chart's NOTES).")
}

// Postgres is the output postgres: how to reach the bundled database.
type Postgres struct {
	Host           string `pulumi:"host"`
	Port           int    `pulumi:"port"`
	Database       string `pulumi:"database"`
	Username       string `pulumi:"username"`
	Sslmode        string `pulumi:"sslmode"`
	PasswordSecret string `pulumi:"passwordSecret"`
}

// Annotate documents Postgres.
func (pg *Postgres) Annotate(a infer.Annotator) {
	a.SetToken("index", "Postgres")
	a.Describe(pg, "How to reach the bundled Postgres.")
	a.Describe(&pg.Host, "The database's cluster DNS name.")
	a.Describe(&pg.Port, "Its port (postgresql.service.port).")
	a.Describe(&pg.Database, "The database (postgresql.auth.database).")
	a.Describe(&pg.Username, "The role the server signs in as (postgresql.auth.username).")
	a.Describe(&pg.Sslmode, "The sslmode the server connects with (postgresql.tls.mode).")
	a.Describe(&pg.PasswordSecret, "The Secret and key holding the password, never the password.")
}

// PostgresPtrOutput is the output postgres, nil with an external database.
type PostgresPtrOutput struct{ *pulumi.OutputState }

// ElementType is *Postgres.
func (PostgresPtrOutput) ElementType() reflect.Type { return reflect.TypeFor[*Postgres]() }

func init() { pulumi.RegisterOutputType(PostgresPtrOutput{}) }

// newPostgres is the program's postgres output as a Postgres.
func newPostgres(m map[string]any) (*Postgres, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	var pg struct {
		Host, Database, Username, Sslmode, PasswordSecret string
		Port                                              int
	}
	if err := json.Unmarshal(b, &pg); err != nil {
		return nil, fmt.Errorf("stack output postgres: %w", err)
	}
	return &Postgres{Host: pg.Host, Port: pg.Port, Database: pg.Database, Username: pg.Username,
		Sslmode: pg.Sslmode, PasswordSecret: pg.PasswordSecret}, nil
}

// NewCertctl is the component's Construct: the inputs decoded and checked as config.Load and
// Validate would the same stack config (a refusal registers nothing and names every key), then
// the program's own Install into this component.
func NewCertctl(ctx *pulumi.Context, name string, args CertctlArgs, opts ...pulumi.ResourceOption) (*Certctl, error) {
	doc, err := document(ctx, &args)
	if err != nil {
		return nil, err
	}
	cfg, err := config.Decode(doc)
	if err != nil {
		return nil, inputError(err)
	}
	if err := program.Check(ctx, &cfg); err != nil {
		return nil, inputError(err)
	}
	c := &Certctl{}
	if err := ctx.RegisterComponentResource(components.CertctlType, name, c, opts...); err != nil {
		return nil, err
	}
	var childOpts []pulumi.ResourceOption
	if cfg.NeedsAWS() {
		aws, err := program.AWSProvider(ctx, name+"-aws", &cfg, pulumi.Parent(c))
		if err != nil {
			return nil, err
		}
		childOpts = append(childOpts, pulumi.Providers(aws))
	}
	outputs, err := program.Install(ctx, name, &cfg, c, childOpts...)
	if err != nil {
		return nil, err
	}
	return c, c.setOutputs(outputs)
}

// secretFix is how a component's caller gives a value as a secret.
const secretFix = "pass it as a secret: pulumi.secret() in TypeScript, pulumi.Output.secret() in Python, " +
	"pulumi.ToSecret() in Go, fn::secret in YAML"

// document is the inputs as the configuration document config.Decode reads: each given
// top-level input as the engine would pass that stack config key, and which values were secret.
func document(ctx *pulumi.Context, args *CertctlArgs) (config.Document, error) {
	w := &walker{ctx: ctx, secret: map[string]bool{}}
	doc := config.Document{
		Values:    map[string]string{},
		Secret:    func(path string) bool { return w.secret[path] },
		SecretFix: func(string) string { return secretFix },
	}
	v := reflect.ValueOf(args).Elem()
	for i := range v.NumField() {
		key := tagName(v.Type().Field(i))
		value, given, err := w.value(v.Field(i), key)
		if err != nil {
			return doc, fmt.Errorf("input %s: %w", key, err)
		}
		if !given {
			continue
		}
		if doc.Values[key], err = rawValue(value); err != nil {
			return doc, fmt.Errorf("input %s: %w", key, err)
		}
	}
	if len(w.unknown) > 0 {
		return doc, perrors.NewInputPropertiesError("certctl: inputs not known yet", w.unknown...)
	}
	return doc, nil
}

// rawValue is a top-level input as stack config holds it: strings and booleans as text,
// everything else as JSON.
func rawValue(v any) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

// walker turns the typed inputs into plain values: each Output awaited, the key paths of
// secret ones noted, unknown ones reported.
type walker struct {
	ctx     *pulumi.Context
	secret  map[string]bool
	unknown []perrors.InputPropertyErrorDetails
}

// value is v at key path as a plain JSON value, structs by their pulumi names; given is false
// for what the caller left unset (a nil Output, pointer, list or map), which keeps its default.
func (w *walker) value(v reflect.Value, path string) (value any, given bool, err error) {
	if out, ok := v.Interface().(pulumi.Output); ok {
		if v.Field(0).IsNil() { // the Output's *OutputState: not given
			return nil, false, nil
		}
		res, err := internals.UnsafeAwaitOutput(w.ctx.Context(), out)
		if err != nil {
			return nil, false, err
		}
		if !res.Known {
			w.unknown = append(w.unknown, perrors.InputPropertyErrorDetails{PropertyPath: path,
				Reason: "is not known yet; the configuration must be known when the component is constructed, as stack config is"})
			return nil, false, nil
		}
		w.secret[path] = res.Secret
		if res.Value == nil {
			return nil, false, nil
		}
		v = reflect.ValueOf(res.Value)
	}
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil, false, nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		out := map[string]any{}
		for i := range v.NumField() {
			key := tagName(v.Type().Field(i))
			fv, given, err := w.value(v.Field(i), path+"."+key)
			if err != nil {
				return nil, false, err
			}
			if given {
				out[key] = fv
			}
		}
		return out, true, nil
	case reflect.Slice:
		if v.IsNil() {
			return nil, false, nil
		}
		out := make([]any, v.Len())
		for i := range out {
			if out[i], _, err = w.value(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return nil, false, err
			}
		}
		return out, true, nil
	case reflect.Map:
		if v.IsNil() {
			return nil, false, nil
		}
		out := make(map[string]any, v.Len())
		for _, k := range v.MapKeys() {
			if out[k.String()], _, err = w.value(v.MapIndex(k), path+"."+k.String()); err != nil {
				return nil, false, err
			}
		}
		return out, true, nil
	}
	return v.Interface(), true, nil
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("pulumi"), ",")
	return name
}

// inputError reports a refused configuration as errors on the input properties, each at its
// key path (server.replicas for certctl:server.replicas) with config's message.
func inputError(err error) error {
	var refused *config.ValidationError
	if !errors.As(err, &refused) {
		return err
	}
	details := make([]perrors.InputPropertyErrorDetails, len(refused.Problems))
	for i, p := range refused.Problems {
		details[i] = perrors.InputPropertyErrorDetails{
			PropertyPath: strings.TrimPrefix(p.Key, config.Namespace+":"),
			Reason:       p.Message,
		}
	}
	return perrors.NewInputPropertiesError("certctl: the configuration is refused", details...)
}

// setOutputs sets the component's outputs from the program's stack outputs; every stack
// output must have its field.
func (c *Certctl) setOutputs(outputs pulumi.Map) error {
	v := reflect.ValueOf(c).Elem()
	var known []string
	for i := range v.NumField() {
		key := tagName(v.Type().Field(i))
		if key == "" {
			continue
		}
		known = append(known, key)
		value, ok := outputs[key]
		switch field := v.Field(i).Addr().Interface().(type) {
		case *pulumi.StringOutput:
			s, isString := value.(pulumi.StringInput)
			if !isString {
				return fmt.Errorf("stack output %s: want a string, have %T", key, value)
			}
			*field = s.ToStringOutput()
		case *pulumi.StringPtrOutput:
			*field = pulumi.ToOutput((*string)(nil)).(pulumi.StringPtrOutput)
			if s, isString := value.(pulumi.StringInput); isString {
				*field = s.ToStringOutput().ToStringPtrOutput()
			} else if ok {
				return fmt.Errorf("stack output %s: want a string, have %T", key, value)
			}
		case *PostgresPtrOutput:
			*field = pulumi.ToOutput((*Postgres)(nil)).(PostgresPtrOutput)
			if m, isMap := value.(pulumi.MapInput); isMap {
				*field = m.ToMapOutput().ApplyT(newPostgres).(PostgresPtrOutput)
			} else if ok {
				return fmt.Errorf("stack output %s: want an object, have %T", key, value)
			}
		default:
			return fmt.Errorf("output %s: unhandled field type %T", key, field)
		}
	}
	for key := range outputs {
		if !slices.Contains(known, key) {
			return fmt.Errorf("stack output %s has no output of the component: add it to Certctl", key)
		}
	}
	return nil
}
