package tests

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/internals"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/config"
	"github.com/certctl-io/certctl-pulumi/program"
	"github.com/certctl-io/certctl-pulumi/tests/conformance"
	"github.com/certctl-io/certctl-pulumi/tests/stackfile"
)

// Resource is one registration the program made, as the engine would have received it.
type Resource struct {
	Type     string
	Name     string
	Inputs   resource.PropertyMap
	Parent   string
	Provider string
	Custom   bool
	// Resource options the program set that users rely on.
	RetainOnDelete bool
	IgnoreChanges  []string
	// Wait is how long the provider waits for the object on create and update ("" for its
	// default), from the customTimeouts option.
	Wait string
	// Aliases are the former URNs the resource answers to; an alias spec is recorded as
	// "<former name> under <former parent URN>".
	Aliases []string
	// Dependencies are the URNs of the resources it depends on (DependsOn and inputs' sources).
	Dependencies []string
}

// Output is one stack output after resolution.
type Output struct {
	Value  any
	Secret bool
	Known  bool
}

// Render is everything one run of the program registered and returned.
type Render struct {
	Resources []Resource
	Outputs   map[string]Output
}

// recorder is the mock engine: it records registrations, echoes inputs as outputs and fakes
// only the computed fields the program reads.
type recorder struct {
	mu        sync.Mutex
	resources []Resource
	// realKeys makes the pulumi-tls mocks return a real key and certificate (what the provider
	// would compute) instead of stable placeholders: the live suite runs the server with them.
	realKeys bool
}

// MockEngine is the mock engine for a run this package does not start itself (the package's test
// server in provider/): give it as the pulumi.MockResourceMonitor, then read Render.
type MockEngine struct{ recorder }

// Render is everything registered so far (no outputs: the run is not this package's).
func (m *MockEngine) Render() *Render {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &Render{Resources: slices.Clone(m.resources)}
}

// generatedValue is what the mock's RandomPassword "generates": fixed, so goldens are stable.
func generatedValue(name string) string { return "GENERATED-" + name }

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	res := Resource{
		Type:     args.TypeToken,
		Name:     args.Name,
		Inputs:   args.Inputs,
		Provider: args.Provider,
		Custom:   args.Custom,
	}
	if args.RegisterRPC != nil {
		res.Parent = args.RegisterRPC.GetParent()
		res.RetainOnDelete = args.RegisterRPC.GetRetainOnDelete()
		res.IgnoreChanges = args.RegisterRPC.GetIgnoreChanges()
		if ct := args.RegisterRPC.GetCustomTimeouts(); ct != nil && ct.GetCreate() == ct.GetUpdate() {
			res.Wait = ct.GetCreate()
		}
		res.Aliases = args.RegisterRPC.GetAliasURNs()
		res.Dependencies = args.RegisterRPC.GetDependencies()
		for _, a := range args.RegisterRPC.GetAliases() {
			if urn := a.GetUrn(); urn != "" {
				res.Aliases = append(res.Aliases, urn)
			} else {
				res.Aliases = append(res.Aliases, a.GetSpec().GetName()+" under "+a.GetSpec().GetParentUrn())
			}
		}
	}
	r.mu.Lock()
	r.resources = append(r.resources, res)
	r.mu.Unlock()

	state := args.Inputs.Copy()
	// The real engine marks these outputs secret (AdditionalSecretOutputs); the mock must say so itself.
	switch args.TypeToken {
	case "random:index/randomPassword:RandomPassword":
		state["result"] = resource.MakeSecret(resource.NewStringProperty(generatedValue(args.Name)))
	case "tls:index/privateKey:PrivateKey":
		pem := generatedValue(args.Name)
		if r.realKeys {
			pem = newECKeyPEM()
		}
		state["privateKeyPem"] = resource.MakeSecret(resource.NewStringProperty(pem))
	case "tls:index/selfSignedCert:SelfSignedCert":
		pem := "CERTIFICATE-" + args.Name // public: not a GENERATED- (secret) value
		if r.realKeys {
			var err error
			if pem, err = selfSignedCertPEM(args.Inputs); err != nil {
				return "", nil, err
			}
		}
		state["certPem"] = resource.NewStringProperty(pem)
	case "aws:s3/bucketV2:BucketV2":
		bucket := args.Name + "-generated" // what autonaming would make of the logical name
		if b, ok := args.Inputs["bucket"]; ok && b.IsString() {
			bucket = b.StringValue()
		}
		state["bucket"] = resource.NewStringProperty(bucket)
		state["arn"] = resource.NewStringProperty("arn:aws:s3:::" + bucket)
		return bucket, state, nil
	case "aws:iam/role:Role":
		state["name"] = resource.NewStringProperty(args.Name + "-generated")
		state["arn"] = resource.NewStringProperty("arn:aws:iam::123456789012:role/" + args.Name + "-generated")
	case "aws:iam/user:User":
		state["name"] = resource.NewStringProperty(args.Name + "-generated")
	case "aws:iam/accessKey:AccessKey":
		state["secret"] = resource.MakeSecret(resource.NewStringProperty(generatedValue(args.Name)))
		return "AKIA-" + args.Name, state, nil
	}
	return args.Name + "-id", state, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// StackConfig is a stack's configuration as the engine hands it to the program.
type StackConfig struct {
	values  map[string]string
	secrets []string
}

// withConfig builds a stackConfig from top-level certctl keys; objects are JSON-encoded the way
// the engine passes structured config. Keys listed in secret are marked secret.
func withConfig(t testing.TB, values map[string]any, secret ...string) StackConfig {
	t.Helper()
	sc := StackConfig{values: map[string]string{}}
	for k, v := range values {
		full := k
		if !strings.Contains(k, ":") {
			full = "certctl:" + k
		}
		sc.values[full] = encodeConfigValue(t, v)
	}
	for _, k := range secret {
		if !strings.Contains(k, ":") {
			k = "certctl:" + k
		}
		sc.secrets = append(sc.secrets, k)
	}
	return sc
}

func encodeConfigValue(t testing.TB, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encoding config value: %v", err)
	}
	return string(b)
}

// ProjectRoot is the repository's root directory, from this file's place in it: the mock tests
// and the live suite run in different directories.
func ProjectRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// ProjectFile is the text of a file of the repository, by its path from the root.
func ProjectFile(t testing.TB, path string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(ProjectRoot(), path))
	require.NoError(t, err)
	return string(b)
}

// projectConfig is Pulumi.yaml's config block: the CLI passes each declared key's default
// when a stack does not set it.
type projectConfig map[string]struct {
	Type        string `json:"type"`
	Description string `json:"description"`
	Default     any    `json:"default"`
}

func loadProjectConfig(t testing.TB) projectConfig {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(ProjectRoot(), "Pulumi.yaml"))
	if err != nil {
		t.Fatalf("reading Pulumi.yaml: %v", err)
	}
	var project struct {
		Config projectConfig `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &project); err != nil {
		t.Fatalf("parsing Pulumi.yaml: %v", err)
	}
	return project.Config
}

// withProjectDefaults fills in what the CLI would for keys the stack leaves unset.
func withProjectDefaults(t testing.TB, sc StackConfig) StackConfig {
	t.Helper()
	for k, decl := range loadProjectConfig(t) {
		full := "certctl:" + k
		if _, set := sc.values[full]; !set && decl.Default != nil {
			sc.values[full] = encodeConfigValue(t, decl.Default)
		}
	}
	return sc
}

// loadStack reads stacks/Pulumi.<name>.yaml the way the CLI would pass it to the program,
// project defaults included.
func loadStack(t testing.TB, name string) StackConfig {
	t.Helper()
	return stackFromFile(t, name, stackfile.Read)
}

// loadEngineStack is a stack as the engine tier deploys it: its file with the tier's overlay.
func loadEngineStack(t testing.TB, name string) StackConfig {
	t.Helper()
	return stackFromFile(t, name, stackfile.Load)
}

// stackFromFile is a stack's config block as the CLI passes it, project defaults included.
func stackFromFile(t testing.TB, name string, read func(root, name string) (map[string]any, error)) StackConfig {
	t.Helper()
	values, err := read(ProjectRoot(), name)
	if err != nil {
		t.Fatalf("stack %s: %v", name, err)
	}
	sc := StackConfig{values: map[string]string{}}
	for k, v := range values {
		if m, ok := v.(map[string]any); ok && m["secure"] != nil {
			t.Fatalf("stack %s: %s holds an encrypted value; stack files in this repo carry no secrets", name, k)
		}
		sc.values[k] = encodeConfigValue(t, v)
	}
	return withProjectDefaults(t, sc)
}

// run executes the real program body under mocks.
func run(t testing.TB, sc StackConfig) (*Render, error) {
	t.Helper()
	return runBody(t, sc, program.Deploy)
}

// RunWithRealKeys runs the program with real generated keys and certificates, for the live suite.
func RunWithRealKeys(t testing.TB, sc StackConfig) (*Render, error) {
	t.Helper()
	return runWith(t, sc, program.Deploy, &recorder{realKeys: true})
}

// runBody executes any body that returns outputs (a single component, say) under the mocks.
func runBody(t testing.TB, sc StackConfig, body func(*pulumi.Context) (pulumi.Map, error)) (*Render, error) {
	t.Helper()
	return runWith(t, sc, body, &recorder{})
}

// engineConfig serializes runs: each passes its configuration in PULUMI_CONFIG, as the Pulumi CLI
// does, for the program's check of unknown keys.
var engineConfig sync.Mutex

func runWith(t testing.TB, sc StackConfig, body func(*pulumi.Context) (pulumi.Map, error), rec *recorder) (*Render, error) {
	t.Helper()
	engineConfig.Lock()
	defer engineConfig.Unlock()
	raw, err := json.Marshal(sc.values)
	if err != nil {
		t.Fatalf("encoding the configuration: %v", err)
	}
	previous, had := os.LookupEnv(pulumi.EnvConfig)
	os.Setenv(pulumi.EnvConfig, string(raw))
	defer func() {
		if had {
			os.Setenv(pulumi.EnvConfig, previous)
		} else {
			os.Unsetenv(pulumi.EnvConfig)
		}
	}()
	outputs := map[string]Output{}
	err = pulumi.RunErr(func(ctx *pulumi.Context) error {
		outs, err := body(ctx)
		if err != nil {
			return err
		}
		for k, v := range outs {
			res, err := internals.UnsafeAwaitOutput(ctx.Context(), pulumi.ToOutput(v))
			if err != nil {
				return fmt.Errorf("awaiting output %s: %w", k, err)
			}
			outputs[k] = Output{Value: res.Value, Secret: res.Secret, Known: res.Known}
		}
		return nil
	}, pulumi.WithMocks("certctl", "test", rec), func(ri *pulumi.RunInfo) {
		ri.Config = sc.values
		ri.ConfigSecretKeys = sc.secrets
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return &Render{Resources: slices.Clone(rec.resources), Outputs: outputs}, err
}

// mustRun runs a configuration that is expected to deploy.
func mustRun(t testing.TB, sc StackConfig) *Render {
	t.Helper()
	r, err := run(t, sc)
	if err != nil {
		t.Fatalf("program failed: %v", err)
	}
	return r
}

// apiVersionKind splits a pulumi-kubernetes type token: "kubernetes:apps/v1:Deployment" ->
// ("apps/v1", "Deployment"); the core group has no prefix ("v1").
func apiVersionKind(token string) (string, string, bool) {
	parts := strings.Split(token, ":")
	if len(parts) != 3 || parts[0] != "kubernetes" || parts[1] == "index" {
		return "", "", false
	}
	return strings.TrimPrefix(parts[1], "core/"), parts[2], true
}

// KubernetesObjects are the registered Kubernetes objects (the provider excluded).
func (r *Render) KubernetesObjects() []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if _, _, ok := apiVersionKind(res.Type); ok {
			out = append(out, res)
		}
	}
	return out
}

// Kind is the object's Kubernetes kind.
func (res Resource) Kind() string {
	_, kind, _ := apiVersionKind(res.Type)
	return kind
}

// ObjectName is metadata.name.
func (res Resource) ObjectName() string {
	m, _ := res.Manifest()["metadata"].(map[string]any)
	name, _ := m["name"].(string)
	return name
}

// Manifest is the object as the provider would send it to the API server (secrets unwrapped).
func (res Resource) Manifest() map[string]any {
	apiVersion, kind, _ := apiVersionKind(res.Type)
	obj := plainMap(res.Inputs)
	obj["apiVersion"], obj["kind"] = apiVersion, kind
	return obj
}

// ObjectSet lists "Kind/name" of every Kubernetes object, sorted. A Job whose name ends in the
// digest of what it runs is listed as "Job/<prefix>-<digest>".
func (r *Render) ObjectSet() []string {
	var out []string
	for _, res := range r.KubernetesObjects() {
		out = append(out, res.Kind()+"/"+res.setName())
	}
	slices.Sort(out)
	return out
}

// setName is the object's name as ObjectSet lists it: a Job's digest suffix is "<digest>".
func (res Resource) setName() string {
	name := res.ObjectName()
	if prefix, digest, ok := cutLast(name, "-"); ok && res.Kind() == "Job" && isHexDigest(digest) {
		return prefix + "-<digest>"
	}
	return name
}

func cutLast(s, sep string) (string, string, bool) {
	i := strings.LastIndex(s, sep)
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

func isHexDigest(s string) bool {
	_, err := hex.DecodeString(s)
	return len(s) == config.DigestSuffixLen && err == nil && strings.ToLower(s) == s
}

// Object finds the Kubernetes object of a kind and name (a Job's also as "<prefix>-<digest>").
func (r *Render) Object(t testing.TB, kind, name string) Resource {
	t.Helper()
	for _, res := range r.KubernetesObjects() {
		if res.Kind() == kind && (res.ObjectName() == name || res.setName() == name) {
			return res
		}
	}
	t.Fatalf("no %s/%s among %v", kind, name, r.ObjectSet())
	return Resource{}
}

// ByType lists registrations of a type token.
func (r *Render) ByType(token string) []Resource {
	var out []Resource
	for _, res := range r.Resources {
		if res.Type == token {
			out = append(out, res)
		}
	}
	return out
}

const placeholderUnknown = "<unknown>"

func plainMap(m resource.PropertyMap) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if v.IsNull() {
			continue
		}
		out[string(k)] = plain(v)
	}
	return out
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsOutput():
		if !v.OutputValue().Known {
			return placeholderUnknown
		}
		return plain(v.OutputValue().Element)
	case v.IsComputed():
		return placeholderUnknown
	case v.IsObject():
		return plainMap(v.ObjectValue())
	case v.IsArray():
		arr := []any{}
		for _, e := range v.ArrayValue() {
			arr = append(arr, plain(e))
		}
		return arr
	default:
		return v.Mappable()
	}
}

// Path walks a manifest: Path(obj, "spec", "template", "spec", "containers", 0, "env").
func Path(v any, steps ...any) any {
	for _, s := range steps {
		switch key := s.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[key]
		case int:
			a, ok := v.([]any)
			if !ok || key >= len(a) {
				return nil
			}
			v = a[key]
		}
	}
	return v
}

// secretAt reports whether the input at a path is a Pulumi secret, at that level or above it
// (a map holding secret values may arrive as one secret object).
func (res Resource) secretAt(keys ...string) bool {
	v := resource.NewObjectProperty(res.Inputs)
	for _, k := range keys {
		if v.IsSecret() {
			return true
		}
		if !v.IsObject() {
			return false
		}
		v = v.ObjectValue()[resource.PropertyKey(k)]
	}
	return v.IsSecret()
}

func sortedCopy(s []string) []string {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// renderModeWith runs a mode with extra configuration on top.
func renderModeWith(t *testing.T, name string, extra map[string]any) *Render {
	t.Helper()
	m := ModeNamed(t, name)
	m.Config = DeepMerge(m.Config, extra)
	return mustRun(t, m.Stack(t))
}

// objects are a render's Kubernetes objects in the checker's plain form.
func objects(r *Render) []conformance.Object {
	var objs []conformance.Object
	for _, res := range r.KubernetesObjects() {
		objs = append(objs, res.Manifest())
	}
	return objs
}

// DeepCopy copies a JSON-shaped value.
func DeepCopy[T any](t testing.TB, v T) T {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	var out T
	require.NoError(t, json.Unmarshal(b, &out))
	return out
}

// manifestsYAML is every Kubernetes object as multi-document YAML, ordered by kind then name.
// Generated secrets appear as the mock's fixed GENERATED-<name> placeholder.
func manifestsYAML(t testing.TB, r *Render) []byte {
	t.Helper()
	objs := r.KubernetesObjects()
	slices.SortFunc(objs, func(a, b Resource) int {
		return strings.Compare(a.Kind()+"/"+a.ObjectName(), b.Kind()+"/"+b.ObjectName())
	})
	var buf bytes.Buffer
	for _, o := range objs {
		b, err := yaml.Marshal(o.Manifest())
		require.NoError(t, err)
		buf.WriteString("---\n")
		buf.Write(b)
	}
	return buf.Bytes()
}

// envSource describes where a container env var comes from, as "value:<v>",
// "configMap:<name>/<key>", "secret:<name>/<key>" or "field:<path>".
func envSources(t *testing.T, c corev1.Container) ([]string, map[string]string) {
	t.Helper()
	var order []string
	sources := map[string]string{}
	for _, e := range c.Env {
		order = append(order, e.Name)
		switch from := e.ValueFrom; {
		case from == nil:
			sources[e.Name] = "value:" + e.Value
		case from.ConfigMapKeyRef != nil:
			sources[e.Name] = "configMap:" + from.ConfigMapKeyRef.Name + "/" + from.ConfigMapKeyRef.Key
		case from.SecretKeyRef != nil:
			sources[e.Name] = "secret:" + from.SecretKeyRef.Name + "/" + from.SecretKeyRef.Key
		case from.FieldRef != nil:
			sources[e.Name] = "field:" + from.FieldRef.FieldPath
		default:
			t.Fatalf("env %s: unexpected source %+v", e.Name, from)
		}
	}
	return order, sources
}

// typed decodes a rendered object strictly (as the conformance checks do) into its k8s.io/api
// type, so tests read typed fields: d.Spec.Template.Spec.Containers[0].Ports[0].ContainerPort.
func typed[T any](t testing.TB, r *Render, kind, name string) *T {
	t.Helper()
	var out T
	require.NoError(t, conformance.Decode(r.Object(t, kind, name).Manifest(), &out))
	return &out
}

// Registered finds the one registration of a type token; its Inputs are what the provider gets.
func (r *Render) Registered(t testing.TB, token string) Resource {
	t.Helper()
	found := r.ByType(token)
	require.Len(t, found, 1, "registrations of %s", token)
	return found[0]
}

// Deployment is the rendered Deployment of that name, decoded strictly; the test fails without it.
func (r *Render) Deployment(t testing.TB, name string) *appsv1.Deployment {
	return typed[appsv1.Deployment](t, r, "Deployment", name)
}

// DaemonSet is the rendered DaemonSet of that name, as Deployment.
func (r *Render) DaemonSet(t testing.TB, name string) *appsv1.DaemonSet {
	return typed[appsv1.DaemonSet](t, r, "DaemonSet", name)
}

// StatefulSet is the rendered StatefulSet of that name, as Deployment.
func (r *Render) StatefulSet(t testing.TB, name string) *appsv1.StatefulSet {
	return typed[appsv1.StatefulSet](t, r, "StatefulSet", name)
}

// Service is the rendered Service of that name, as Deployment.
func (r *Render) Service(t testing.TB, name string) *corev1.Service {
	return typed[corev1.Service](t, r, "Service", name)
}

// ConfigMap is the rendered ConfigMap of that name, as Deployment.
func (r *Render) ConfigMap(t testing.TB, name string) *corev1.ConfigMap {
	return typed[corev1.ConfigMap](t, r, "ConfigMap", name)
}

// Secret has the program's values in StringData (secrets unwrapped).
func (r *Render) Secret(t testing.TB, name string) *corev1.Secret {
	return typed[corev1.Secret](t, r, "Secret", name)
}

func ptrTo[T any](v T) *T { return &v }

// secretVolume is a Secret volume as the program renders it: owner-only files.
func secretVolume(name, secret string, keys ...string) corev1.Volume {
	src := &corev1.SecretVolumeSource{SecretName: secret, DefaultMode: ptrTo[int32](0o400)}
	for _, k := range keys {
		src.Items = append(src.Items, corev1.KeyToPath{Key: k, Path: k})
	}
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: src}}
}
