package kubelet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"
)

// manifest decodes a YAML manifest the way tests receive them: a map with float64 numbers.
func manifest(t testing.TB, doc string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(doc), &m))
	return m
}

// testObjects is a namespace "shop" with a Service, a headless Service, a Service of another
// namespace, a Secret and a ConfigMap.
func testObjects(t *testing.T) *store {
	t.Helper()
	s := newStore("shop")
	for _, doc := range []string{`
kind: Service
metadata: {name: shop-api}
spec:
  selector: {app: api}
  ports: [{name: http, port: 80, targetPort: 8080}, {name: grpc-port, port: 9090, protocol: TCP}]`, `
kind: Service
metadata: {name: db}
spec: {clusterIP: None, ports: [{port: 5432}]}`, `
kind: Service
metadata: {name: elsewhere, namespace: other}
spec: {ports: [{port: 1}]}`, `
kind: Secret
metadata: {name: creds}
data: {password: czNjcmV0, tricky: JChCKQ==}
stringData: {user: admin}`, `
kind: ConfigMap
metadata: {name: settings}
data: {mode: fast, level: "3"}`,
	} {
		_, err := s.add(manifest(t, doc))
		require.NoError(t, err)
	}
	return s
}

// testPod is a pod of namespace shop as the API server would hold it.
func testPod(t *testing.T, spec string) *corev1.Pod {
	t.Helper()
	tmpl, err := decode[corev1.PodTemplateSpec](manifest(t, spec))
	require.NoError(t, err)
	pod := &corev1.Pod{ObjectMeta: tmpl.ObjectMeta, Spec: tmpl.Spec}
	pod.Name, pod.Namespace, pod.UID = "web-0", "shop", "0b5c1c1e-0000-4000-8000-000000000001"
	pod.Spec.NodeName, pod.Spec.ServiceAccountName = "node-1", "web"
	pod.Status.PodIP = "10.244.0.7"
	return pod
}

var testAllocatable = corev1.ResourceList{
	corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi"),
}

func resolveEnv(t *testing.T, objects *store, spec string) (map[string]string, error) {
	t.Helper()
	pod := testPod(t, spec)
	return kubeletEnv(envInputs{
		pod: pod, container: &pod.Spec.Containers[0], services: objects.serviceObjects(),
		objects: objects, allocatable: testAllocatable,
	})
}

// shopAPILinks are the service-link variables of shop-api, the first Service (10.96.0.1).
var shopAPILinks = map[string]string{
	"SHOP_API_SERVICE_HOST":           "10.96.0.1",
	"SHOP_API_SERVICE_PORT":           "80",
	"SHOP_API_SERVICE_PORT_HTTP":      "80",
	"SHOP_API_SERVICE_PORT_GRPC_PORT": "9090",
	"SHOP_API_PORT":                   "tcp://10.96.0.1:80",
	"SHOP_API_PORT_80_TCP":            "tcp://10.96.0.1:80",
	"SHOP_API_PORT_80_TCP_PROTO":      "tcp",
	"SHOP_API_PORT_80_TCP_PORT":       "80",
	"SHOP_API_PORT_80_TCP_ADDR":       "10.96.0.1",
	"SHOP_API_PORT_9090_TCP":          "tcp://10.96.0.1:9090",
	"SHOP_API_PORT_9090_TCP_PROTO":    "tcp",
	"SHOP_API_PORT_9090_TCP_PORT":     "9090",
	"SHOP_API_PORT_9090_TCP_ADDR":     "10.96.0.1",
}

func TestEnvExpansionFollowsDeclarationOrder(t *testing.T) {
	env, err := resolveEnv(t, testObjects(t), `
spec:
  containers:
  - name: app
    env:
    - {name: EARLY, value: "$(B)"}
    - {name: B, value: b}
    - {name: REF, value: "x-$(B)-$(NOPE)-$(unterminated"}
    - {name: ESCAPED, value: "$$(B) $$ $ $x"}
    - {name: FROM_SECRET, valueFrom: {secretKeyRef: {name: creds, key: tricky}}}
    - {name: OF_SECRET, value: "<$(FROM_SECRET)>"}
    - {name: API, value: "$(SHOP_API_SERVICE_HOST):$(SHOP_API_SERVICE_PORT)"}
    - {name: SHOP_API_SERVICE_PORT, value: "8000"}
    - {name: B, value: "again-$(B)"}
    - {name: EMPTY, value: ""}`)
	require.NoError(t, err)
	want := map[string]string{
		"EARLY":       "$(B)",                       // B was not defined yet
		"B":           "again-b",                    // a redefinition sees the earlier value
		"REF":         "x-b-$(NOPE)-$(unterminated", // undefined and unterminated stay as written
		"ESCAPED":     "$(B) $ $ $x",                // $$ is an escaped $
		"FROM_SECRET": "$(B)",                       // valueFrom is never expanded
		"OF_SECRET":   "<$(B)>",                     // and its value is not expanded again
		"API":         "10.96.0.1:80",               // service links are visible to values
		"EMPTY":       "",
	}
	for k, v := range shopAPILinks {
		want[k] = v
	}
	want["SHOP_API_SERVICE_PORT"] = "8000" // an explicit entry overrides the link
	assert.Equal(t, want, env)
}

func TestServiceLinksCanBeDisabled(t *testing.T) {
	env, err := resolveEnv(t, testObjects(t), `
spec:
  enableServiceLinks: false
  containers:
  - name: app
    env: [{name: API, value: "$(SHOP_API_SERVICE_HOST)"}]`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"API": "$(SHOP_API_SERVICE_HOST)"}, env)
}

func TestServiceLinksSkipHeadlessServices(t *testing.T) {
	env := serviceLinkEnv(testObjects(t).serviceObjects())
	assert.Equal(t, shopAPILinks, env, "db is headless; elsewhere is another namespace")
}

func TestEnvValueFrom(t *testing.T) {
	env, err := resolveEnv(t, testObjects(t), `
metadata:
  labels: {app: web}
  annotations: {team: payments}
spec:
  containers:
  - name: app
    resources:
      limits: {cpu: 500m, memory: 512Mi}
    env:
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: creds, key: password}}}
    - {name: USER, valueFrom: {secretKeyRef: {name: creds, key: user}}}
    - {name: MODE, valueFrom: {configMapKeyRef: {name: settings, key: mode}}}
    - {name: OPTIONAL_KEY, valueFrom: {configMapKeyRef: {name: settings, key: absent, optional: true}}}
    - {name: OPTIONAL_MAP, valueFrom: {configMapKeyRef: {name: absent, key: x, optional: true}}}
    - {name: OPTIONAL_SECRET, valueFrom: {secretKeyRef: {name: absent, key: x, optional: true}}}
    - {name: POD_NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    - {name: POD_NAMESPACE, valueFrom: {fieldRef: {fieldPath: metadata.namespace}}}
    - {name: POD_UID, valueFrom: {fieldRef: {fieldPath: metadata.uid}}}
    - {name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}
    - {name: SA, valueFrom: {fieldRef: {fieldPath: spec.serviceAccountName}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: APP, valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}}
    - {name: TEAM, valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}}
    - {name: MEMORY_MI, valueFrom: {resourceFieldRef: {resource: limits.memory, divisor: 1Mi}}}
    - {name: CPU_REQUEST, valueFrom: {resourceFieldRef: {resource: requests.cpu}}}
    - {name: CPU_REQUEST_M, valueFrom: {resourceFieldRef: {resource: requests.cpu, divisor: 1m}}}
    - {name: NODE_CPU, valueFrom: {resourceFieldRef: {resource: limits.cpu, containerName: sidecar}}}
  - name: sidecar`)
	require.NoError(t, err)
	for k := range shopAPILinks {
		delete(env, k)
	}
	assert.Equal(t, map[string]string{
		"PASSWORD": "s3cret", "USER": "admin", "MODE": "fast",
		"POD_NAME": "web-0", "POD_NAMESPACE": "shop", "POD_UID": "0b5c1c1e-0000-4000-8000-000000000001",
		"NODE": "node-1", "SA": "web", "POD_IP": "10.244.0.7", "APP": "web", "TEAM": "payments",
		"MEMORY_MI":     "512",
		"CPU_REQUEST":   "1",   // requests default to limits; 500m rounds up to 1
		"CPU_REQUEST_M": "500", // in millicores
		"NODE_CPU":      "4",   // no limit: the node's allocatable
	}, env, "optional references to missing data are left out")
}

func TestEnvMissingReferencesFail(t *testing.T) {
	for name, entry := range map[string]string{
		"missing Secret":         "{secretKeyRef: {name: absent, key: x}}",
		"missing Secret key":     "{secretKeyRef: {name: creds, key: absent}}",
		"missing ConfigMap":      "{configMapKeyRef: {name: absent, key: x}}",
		"missing ConfigMap key":  "{configMapKeyRef: {name: settings, key: absent}}",
		"unknowable field":       "{fieldRef: {fieldPath: status.hostIP}}",
		"unknown resource field": "{resourceFieldRef: {resource: limits.gpu}}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := resolveEnv(t, testObjects(t), `
spec:
  containers:
  - name: app
    env: [{name: X, valueFrom: `+entry+`}]`)
			assert.Error(t, err)
		})
	}
	_, err := resolveEnv(t, testObjects(t), `
spec:
  containers:
  - name: app
    envFrom: [{configMapRef: {name: absent}}]`)
	assert.ErrorContains(t, err, `ConfigMap "absent" not found`)
}

func TestEnvFrom(t *testing.T) {
	env, err := resolveEnv(t, testObjects(t), `
spec:
  enableServiceLinks: false
  containers:
  - name: app
    envFrom:
    - {configMapRef: {name: settings}, prefix: CFG_}
    - {secretRef: {name: creds}}
    - {secretRef: {name: absent, optional: true}}
    env:
    - {name: CFG_mode, value: "slow, not $(CFG_mode)"}
    - {name: LOGIN, value: "$(user)@$(CFG_level)"}`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{
		"CFG_level": "3", "password": "s3cret", "tricky": "$(B)", "user": "admin",
		"CFG_mode": "slow, not fast", // env overrides envFrom, and sees its value
		"LOGIN":    "admin@3",
	}, env)
}

func TestContainerArgv(t *testing.T) {
	img := Image{Entrypoint: []string{"/entry"}, Cmd: []string{"--default"}, Env: map[string]string{"FROM_IMAGE": "x"}}
	env := map[string]string{"PORT": "8443"}
	for name, tc := range map[string]struct {
		command, args, want []string
	}{
		"image defaults":               {want: []string{"/entry", "--default"}},
		"args replace CMD":             {args: []string{"--port=$(PORT)"}, want: []string{"/entry", "--port=8443"}},
		"command drops ENTRYPOINT+CMD": {command: []string{"/bin/run", "$(PORT)"}, want: []string{"/bin/run", "8443"}},
		"command and args":             {command: []string{"/bin/run"}, args: []string{"$$(PORT)", "$(FROM_IMAGE)"}, want: []string{"/bin/run", "$(PORT)", "$(FROM_IMAGE)"}},
	} {
		t.Run(name, func(t *testing.T) {
			argv, err := containerArgv(&corev1.Container{Command: tc.command, Args: tc.args}, img, env)
			require.NoError(t, err)
			assert.Equal(t, tc.want, argv, "image ENV is not part of the expansion")
		})
	}
	_, err := containerArgv(&corev1.Container{}, Image{}, env)
	assert.Error(t, err, "no command at all")
}

func TestProcessEnv(t *testing.T) {
	assert.Equal(t, []string{"HOME=/home/app", "HOSTNAME=web-0", "PATH=" + defaultPath},
		processEnv("web-0", nil, nil, "/home/app"), "the runtime's defaults")
	assert.Equal(t, []string{"HOME=/data", "HOSTNAME=web-0", "LANG=C", "PATH=/app:/bin"},
		processEnv("web-0",
			map[string]string{"PATH": "/app:/bin", "LANG": "en", "HOME": "/image"},
			map[string]string{"LANG": "C", "HOME": "/data"}, "/home/app"),
		"image ENV overrides the defaults, kubelet's variables override the image")
}

func TestProbeCommandExpandsOnlyLiteralValues(t *testing.T) {
	c := &corev1.Container{Env: []corev1.EnvVar{
		{Name: "PORT", Value: "5432"},
		{Name: "USER", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "user"}}},
	}}
	assert.Equal(t, []string{"pg_isready", "-p", "5432", "-U", "", "$(HOST)"},
		probeCommand(c, []string{"pg_isready", "-p", "$(PORT)", "-U", "$(USER)", "$(HOST)"}))
}

func TestContainerIdentity(t *testing.T) {
	etc := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(etc, "passwd"), []byte("root:x:0:0:root:/root:/bin/sh\napp:x:1000:100::/home/app:/bin/sh\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(etc, "group"), []byte("users:x:100:\nwheel:x:10:app,root\n"), 0o644))
	identityOf := func(spec string, img Image) (identity, error) {
		pod := testPod(t, spec)
		return containerIdentity(&pod.Spec, &pod.Spec.Containers[0], img, etc)
	}

	id, err := identityOf(`
spec:
  securityContext: {runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000]}
  containers: [{name: app, securityContext: {runAsUser: 1001}}]`, Image{})
	require.NoError(t, err)
	assert.Equal(t, identity{uid: 1001, gid: 3000, groups: []int64{2000, 3000, 4000}, home: "/", caps: boundingSet(&corev1.SecurityContext{})}, id,
		"the container's runAsUser overrides the pod's; uid 1001 has no passwd entry")

	id, err = identityOf(`
spec:
  containers: [{name: app, securityContext: {runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL], add: [NET_BIND_SERVICE]}}}]`,
		Image{User: "1000"})
	require.NoError(t, err)
	assert.Equal(t, identity{uid: 1000, gid: 100, groups: []int64{10, 100}, home: "/home/app", noNewPrivs: true,
		caps: append(boundingSet(&corev1.SecurityContext{}), "-all", "+net_bind_service")}, id,
		"the image's user, with its passwd group, home and /etc/group memberships")

	for name, spec := range map[string]string{
		"pod runAsNonRoot, no user":          `{spec: {securityContext: {runAsNonRoot: true}, containers: [{name: app}]}}`,
		"container runAsNonRoot, user 0":     `{spec: {containers: [{name: app, securityContext: {runAsNonRoot: true, runAsUser: 0}}]}}`,
		"pod user overridden by container 0": `{spec: {securityContext: {runAsNonRoot: true, runAsUser: 1000}, containers: [{name: app, securityContext: {runAsUser: 0}}]}}`,
	} {
		_, err := identityOf(spec, Image{})
		assert.ErrorContains(t, err, "runAsNonRoot", name)
	}
}

func TestBoundingSet(t *testing.T) {
	assert.Nil(t, boundingSet(&corev1.SecurityContext{Privileged: ptr(true)}), "privileged keeps everything")
	assert.Equal(t, "-all,+chown,+dac_override,+fsetid,+fowner,+mknod,+net_raw,+setgid,+setuid,+setfcap,+setpcap,+net_bind_service,+sys_chroot,+kill,+audit_write,+all,-net_raw",
		strings.Join(boundingSet(&corev1.SecurityContext{Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"ALL"}, Drop: []corev1.Capability{"CAP_NET_RAW"}}}), ","),
		"ALL then the individual drop, as containerd applies them")
}

func TestExpand(t *testing.T) {
	vars := lookupIn(map[string]string{"A": "1", "EMPTY": ""})
	for in, want := range map[string]string{
		"$(A)":       "1",
		"$(A)$(A)":   "11",
		"$$(A)":      "$(A)",
		"$$$(A)":     "$1",
		"$(EMPTY)x":  "x",
		"$(B)":       "$(B)",
		"$(A":        "$(A",
		"a$":         "a$",
		"$A":         "$A",
		"$()":        "$()",
		"x $(A) y $": "x 1 y $",
	} {
		assert.Equal(t, want, expand(in, vars), in)
	}
}

func ptr[T any](v T) *T { return &v }
