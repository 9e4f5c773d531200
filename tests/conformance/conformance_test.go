package conformance

import (
	"slices"
	"strings"
	"testing"
)

// checkFunc is the common shape the individual checks are adapted to.
type checkFunc func(objs []Object, opts Options) []error

// perObject adapts a single-object check; only objects of the given kinds are passed when any
// are named, so each case exercises exactly the check it names.
func perObject(check func(Object) []error, kinds ...string) checkFunc {
	return func(objs []Object, _ Options) []error {
		var errs []error
		for _, obj := range objs {
			if len(kinds) == 0 || slices.Contains(kinds, kindOf(obj)) {
				errs = append(errs, check(obj)...)
			}
		}
		return errs
	}
}

func single(check func(Object) error) func(Object) []error {
	return func(obj Object) []error {
		if err := check(obj); err != nil {
			return []error{err}
		}
		return nil
	}
}

var (
	strictDecode   = perObject(single(StrictDecode))
	customResource = perObject(single(ValidateCustomResource), "Certificate", "ServiceMonitor", "PrometheusRule")
	podSecurity    = perObject(PodSecurityRestricted)
	names          = perObject(CheckNames)
	selectors      = func(objs []Object, _ Options) []error { return CheckSelectors(objs) }
	references     = CheckReferences
	duplicates     = func(objs []Object, _ Options) []error { return CheckDuplicates(objs) }
)

var allChecks = map[string]checkFunc{
	"StrictDecode": strictDecode, "ValidateCustomResource": customResource,
	"PodSecurityRestricted": podSecurity, "CheckNames": names, "CheckSelectors": selectors,
	"CheckReferences": references, "CheckDuplicates": duplicates, "Check": Check,
}

func TestValidSetPasses(t *testing.T) {
	for name, check := range allChecks {
		t.Run(name, func(t *testing.T) {
			for _, err := range check(parseObjects(t, validManifest), validOptions) {
				t.Error(err)
			}
		})
	}
}

func TestCRDsLoaded(t *testing.T) {
	all, err := crds()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"cert-manager.io/v1/Certificate", "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"} {
		if _, ok := all[k]; !ok {
			t.Errorf("no CRD schema for %s", k)
		}
	}
}

type defect struct {
	name   string
	check  checkFunc
	mutate func(t *testing.T, objs []Object) []Object
	opts   *Options // validOptions when nil
	// want is the problem the check and Check must report, "<Kind>/<name>: " prefix included;
	// empty means the mutation is legitimate and nothing may be reported.
	want string
}

// runDefects applies each mutation to a fresh valid set and asserts both the named check and
// Check report the expected problem (or, for want == "", nothing at all).
func runDefects(t *testing.T, cases []defect) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs := tc.mutate(t, parseObjects(t, validManifest))
			opts := validOptions
			if tc.opts != nil {
				opts = *tc.opts
			}
			for _, run := range []struct {
				name  string
				check checkFunc
			}{{"named check", tc.check}, {"Check", Check}} {
				errs := run.check(objs, opts)
				if tc.want == "" {
					for _, err := range errs {
						t.Errorf("%s: unexpected problem: %v", run.name, err)
					}
					continue
				}
				if !reported(errs, tc.want) {
					t.Errorf("%s: want a problem containing\n\t%s\ngot %d:\n\t%s", run.name, tc.want, len(errs), joinErrors(errs))
				}
			}
		})
	}
}

func reported(errs []error, want string) bool {
	prefix, _, _ := strings.Cut(want, ": ")
	for _, err := range errs {
		if strings.HasPrefix(err.Error(), prefix+": ") && strings.Contains(err.Error(), want) {
			return true
		}
	}
	return false
}

// add appends the objects of a YAML manifest to objs.
func add(t *testing.T, objs []Object, manifest string) []Object {
	return append(objs, parseObjects(t, manifest)...)
}

func deployment(t *testing.T, objs []Object) Object {
	return find(t, objs, "Deployment", "certctl-server")
}

func serverPod(t *testing.T, objs []Object) map[string]any {
	return at(t, deployment(t, objs), "spec", "template", "spec")
}

func serverContainer(t *testing.T, objs []Object) map[string]any {
	return at(t, serverPod(t, objs), "containers", "0")
}

func TestStrictDecode(t *testing.T) {
	runDefects(t, []defect{
		{
			name:  "container-only field at pod scope",
			check: strictDecode,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "securityContext")["readOnlyRootFilesystem"] = true
				return objs
			},
			want: `Deployment/certctl-server: unknown field "spec.template.spec.securityContext.readOnlyRootFilesystem"`,
		},
		{
			name:  "mis-cased field",
			check: strictDecode,
			mutate: func(t *testing.T, objs []Object) []Object {
				serverPod(t, objs)["serviceAccountname"] = "certctl"
				return objs
			},
			want: `Deployment/certctl-server: unknown field "spec.template.spec.serviceAccountname"`,
		},
		{
			name:  "wrong value type",
			check: strictDecode,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "spec")["replicas"] = "two"
				return objs
			},
			want: `Deployment/certctl-server: does not decode as apps/v1/Deployment`,
		},
		{
			name:  "unknown kind",
			check: strictDecode,
			mutate: func(t *testing.T, objs []Object) []Object {
				return add(t, objs, `{apiVersion: example.com/v1, kind: Widget, metadata: {name: w, namespace: certctl}}`)
			},
			want: `Widget/w: unknown apiVersion/kind "example.com/v1/Widget"`,
		},
		{
			name:  "known kind under the wrong apiVersion",
			check: strictDecode,
			mutate: func(t *testing.T, objs []Object) []Object {
				deployment(t, objs)["apiVersion"] = "extensions/v1beta1"
				return objs
			},
			want: `Deployment/certctl-server: unknown apiVersion/kind "extensions/v1beta1/Deployment"`,
		},
	})
}

func TestValidateCustomResource(t *testing.T) {
	certSpec := func(t *testing.T, objs []Object) map[string]any {
		return at(t, find(t, objs, "Certificate", "certctl-tls"), "spec")
	}
	runDefects(t, []defect{
		{
			name:  "Certificate unknown spec field",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				certSpec(t, objs)["renewBeforePercent"] = 10 // the field is renewBeforePercentage
				return objs
			},
			want: `Certificate/certctl-tls: unknown field "spec.renewBeforePercent"`,
		},
		{
			name:  "Certificate duration as a number",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				certSpec(t, objs)["duration"] = float64(2160)
				return objs
			},
			want: `Certificate/certctl-tls: spec.duration: Invalid value: "integer": spec.duration in body must be of type string`,
		},
		{
			name:  "Certificate without its required issuerRef",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				delete(certSpec(t, objs), "issuerRef")
				return objs
			},
			want: `Certificate/certctl-tls: spec.issuerRef: Required value`,
		},
		{
			name:  "Certificate enum violated",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, certSpec(t, objs), "privateKey")["algorithm"] = "DSA"
				return objs
			},
			want: `Certificate/certctl-tls: spec.privateKey.algorithm: Unsupported value: "DSA"`,
		},
		{
			name:  "unknown metadata field on a custom resource",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Certificate", "certctl-tls"), "metadata")["label"] = map[string]any{"a": "b"}
				return objs
			},
			want: `Certificate/certctl-tls: unknown field "metadata.label"`,
		},
		{
			name:  "ServiceMonitor unknown endpoint field",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ServiceMonitor", "certctl"), "spec", "endpoints", "0")["bearerTokenSecretName"] = "x"
				return objs
			},
			want: `ServiceMonitor/certctl: unknown field "spec.endpoints[0].bearerTokenSecretName"`,
		},
		{
			name:  "PrometheusRule rule without expr",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				delete(at(t, find(t, objs, "PrometheusRule", "certctl"), "spec", "groups", "0", "rules", "0"), "expr")
				return objs
			},
			want: `PrometheusRule/certctl: spec.groups[0].rules[0].expr: Required value`,
		},
		{
			name:  "integral floats are integers, as after the API server's JSON decoding",
			check: customResource,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Certificate", "certctl-tls"), "spec", "privateKey")["size"] = float64(384)
				return objs
			},
		},
	})
}

func TestPodSecurityRestricted(t *testing.T) {
	runDefects(t, []defect{
		{
			name:  "seccompProfile absent",
			check: podSecurity,
			mutate: func(t *testing.T, objs []Object) []Object {
				delete(at(t, serverPod(t, objs), "securityContext"), "seccompProfile")
				return objs
			},
			want: `Deployment/certctl-server: violates PodSecurity "restricted": seccompProfile`,
		},
		{
			name:  "runAsNonRoot false",
			check: podSecurity,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "securityContext")["runAsNonRoot"] = false
				return objs
			},
			want: `Deployment/certctl-server: violates PodSecurity "restricted": runAsNonRoot != true`,
		},
		{
			name:  "CronJob pod templates are evaluated too",
			check: podSecurity,
			mutate: func(t *testing.T, objs []Object) []Object {
				cj := find(t, objs, "CronJob", "certctl-backup")
				delete(at(t, cj, "spec", "jobTemplate", "spec", "template", "spec", "containers", "0", "securityContext"), "allowPrivilegeEscalation")
				return objs
			},
			want: `CronJob/certctl-backup: violates PodSecurity "restricted": allowPrivilegeEscalation != false`,
		},
		{
			name:  "StatefulSet adding a capability",
			check: podSecurity,
			mutate: func(t *testing.T, objs []Object) []Object {
				sts := find(t, objs, "StatefulSet", "certctl-postgres")
				at(t, sts, "spec", "template", "spec", "containers", "0", "securityContext", "capabilities")["add"] = []any{"NET_ADMIN"}
				return objs
			},
			want: `StatefulSet/certctl-postgres: violates PodSecurity "restricted": unrestricted capabilities`,
		},
	})
}

func TestCheckSelectors(t *testing.T) {
	runDefects(t, []defect{
		{
			name:  "workload selector does not match its template",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "spec", "selector", "matchLabels")["app.kubernetes.io/component"] = "api"
				return objs
			},
			want: `Deployment/certctl-server: spec.selector "app.kubernetes.io/component=api,app.kubernetes.io/name=certctl" does not match the pod template labels`,
		},
		{
			name:  "matchExpressions are honoured",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "spec", "selector")["matchExpressions"] = []any{
					map[string]any{"key": "app.kubernetes.io/version", "operator": "NotIn", "values": []any{"1.0.0"}},
				}
				return objs
			},
			want: `Deployment/certctl-server: spec.selector "app.kubernetes.io/component=server,app.kubernetes.io/name=certctl,app.kubernetes.io/version notin (1.0.0)" does not match`,
		},
		{
			name:  "Service selecting nothing",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-server"), "spec", "selector")["app.kubernetes.io/component"] = "api"
				return objs
			},
			want: `Service/certctl-server: spec.selector "app.kubernetes.io/component=api,app.kubernetes.io/name=certctl" selects no pods of any workload in namespace "certctl"`,
		},
		{
			name:  "Service selecting a workload of another namespace",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-postgres"), "metadata")["namespace"] = "other"
				return objs
			},
			want: `Service/certctl-postgres: spec.selector "app.kubernetes.io/component=postgres" selects no pods of any workload in namespace "other"`,
		},
		{
			name:  "Service targetPort name no container has",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-server"), "spec", "ports", "0")["targetPort"] = "http"
				return objs
			},
			want: `Service/certctl-server: port "https": targetPort http is not a containerPort of Deployment/certctl-server`,
		},
		{
			name:  "Service defaulted numeric targetPort no container has",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-postgres"), "spec", "ports", "0")["port"] = float64(5433)
				return objs
			},
			want: `Service/certctl-postgres: port "postgres": targetPort 5433 is not a containerPort of StatefulSet/certctl-postgres`,
		},
		{
			name:  "Service numeric targetPort a container has",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-server"), "spec", "ports", "0")["targetPort"] = float64(8443)
				return objs
			},
		},
		{
			name:  "PodDisruptionBudget selecting nothing",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "PodDisruptionBudget", "certctl-server"), "spec", "selector", "matchLabels")["app.kubernetes.io/component"] = "api"
				return objs
			},
			want: `PodDisruptionBudget/certctl-server: spec.selector "app.kubernetes.io/component=api" selects no pods`,
		},
		{
			name:  "NetworkPolicy selecting nothing",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "NetworkPolicy", "certctl-server"), "spec", "podSelector", "matchLabels")["app.kubernetes.io/component"] = "api"
				return objs
			},
			want: `NetworkPolicy/certctl-server: spec.podSelector "app.kubernetes.io/component=api" selects no pods`,
		},
		{
			name:  "NetworkPolicy with an empty podSelector selects all pods",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "NetworkPolicy", "certctl-server"), "spec")["podSelector"] = map[string]any{}
				return objs
			},
		},
		{
			name:  "ServiceMonitor selecting no Service",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ServiceMonitor", "certctl"), "spec", "selector", "matchLabels")["app.kubernetes.io/component"] = "api"
				return objs
			},
			want: `ServiceMonitor/certctl: spec.selector "app.kubernetes.io/component=api" selects no Service in namespaces [certctl]`,
		},
		{
			name:  "ServiceMonitor endpoint port name the Service lacks",
			check: selectors,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ServiceMonitor", "certctl"), "spec", "endpoints", "0")["port"] = "metrics"
				return objs
			},
			want: `ServiceMonitor/certctl: spec.endpoints[0].port "metrics" is not a port name of any Service it selects`,
		},
	})
}

func TestCheckNames(t *testing.T) {
	long := strings.Repeat("a", 53)
	runDefects(t, []defect{
		{
			name:  "uppercase name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ConfigMap", "certctl-config"), "metadata")["name"] = "Certctl-Config"
				return objs
			},
			want: `ConfigMap/Certctl-Config: metadata.name: Invalid value: "Certctl-Config": a lowercase RFC 1123 subdomain`,
		},
		{
			name:  "StatefulSet name of 53 characters",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "StatefulSet", "certctl-postgres"), "metadata")["name"] = long
				return objs
			},
			want: `StatefulSet/` + long + `: metadata.name: Invalid value: "` + long + `": must be no more than 52 characters`,
		},
		{
			name:  "CronJob name of 53 characters",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "CronJob", "certctl-backup"), "metadata")["name"] = long
				return objs
			},
			want: `CronJob/` + long + `: metadata.name: Invalid value: "` + long + `": must be no more than 52 characters`,
		},
		{
			name:  "Service name must be a DNS-1035 label",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Service", "certctl-postgres"), "metadata")["name"] = "5-postgres"
				return objs
			},
			want: `Service/5-postgres: metadata.name: Invalid value: "5-postgres": a DNS-1035 label`,
		},
		{
			name:  "RBAC names may contain colons",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Role", "certctl"), "metadata")["name"] = "certctl:reader"
				at(t, find(t, objs, "RoleBinding", "certctl"), "roleRef")["name"] = "certctl:reader"
				return objs
			},
		},
		{
			name:  "namespace on a cluster-scoped kind",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				return add(t, objs, `{apiVersion: rbac.authorization.k8s.io/v1, kind: ClusterRole, metadata: {name: certctl, namespace: certctl}}`)
			},
			want: `ClusterRole/certctl: metadata.namespace: Forbidden: ClusterRole is cluster-scoped`,
		},
		{
			name:  "invalid label value",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "metadata", "labels")["app.kubernetes.io/version"] = "1.0.0+build 7"
				return objs
			},
			want: `Deployment/certctl-server: metadata.labels: Invalid value: "1.0.0+build 7"`,
		},
		{
			name:  "invalid pod template label key",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "spec", "template", "metadata", "labels")["-bad"] = "x"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.metadata.labels: Invalid value: "-bad"`,
		},
		{
			name:  "invalid annotation key",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, deployment(t, objs), "metadata", "annotations")["example.com/a/b"] = "x"
				return objs
			},
			want: `Deployment/certctl-server: metadata.annotations: Invalid value: "example.com/a/b"`,
		},
		{
			name:  "invalid container name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				serverContainer(t, objs)["name"] = "Server"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.containers[0].name: Invalid value: "Server"`,
		},
		{
			name:  "invalid port name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverContainer(t, objs), "ports", "0")["name"] = "https_port"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.containers[0].ports[0].name: Invalid value: "https_port"`,
		},
		{
			name:  "invalid env var name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverContainer(t, objs), "env", "0")["name"] = "1DB_PASSWORD"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.containers[0].env[0].name: Invalid value: "1DB_PASSWORD"`,
		},
		{
			name:  "invalid volume name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "volumes", "2")["name"] = "tmp_dir"
				at(t, serverContainer(t, objs), "volumeMounts", "2")["name"] = "tmp_dir"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.volumes[2].name: Invalid value: "tmp_dir"`,
		},
		{
			name:  "duplicate volume name",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "volumes", "2")["name"] = "config"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.volumes[2].name: Duplicate value: "config"`,
		},
		{
			name:  "volumeMount naming no volume",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverContainer(t, objs), "volumeMounts", "2")["name"] = "scratch"
				return objs
			},
			want: `Deployment/certctl-server: spec.template.spec.containers[0].volumeMounts[2].name: Not found: "scratch"`,
		},
		{
			name:  "invalid Secret key",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Secret", "certctl-scrape"), "stringData")["bearer token"] = "x"
				return objs
			},
			want: `Secret/certctl-scrape: stringData: Invalid value: "bearer token"`,
		},
		{
			name:  "Service ports need names when there are several",
			check: names,
			mutate: func(t *testing.T, objs []Object) []Object {
				ports := at(t, find(t, objs, "Service", "certctl-server"), "spec")
				ports["ports"] = append(ports["ports"].([]any), map[string]any{"port": float64(8443), "targetPort": "https"})
				return objs
			},
			want: `Service/certctl-server: spec.ports[1].name: Required value`,
		},
	})
}

func TestCheckReferences(t *testing.T) {
	runDefects(t, []defect{
		{
			name:  "missing Secret key",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverContainer(t, objs), "env", "0", "valueFrom", "secretKeyRef")["key"] = "pasword"
				return objs
			},
			want: `Deployment/certctl-server: container "server" env DB_PASSWORD: Secret "certctl-db" has no key "pasword" (has [password url])`,
		},
		{
			name:  "missing ConfigMap",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverContainer(t, objs), "envFrom", "0", "configMapRef")["name"] = "certctl-env"
				return objs
			},
			want: `Deployment/certctl-server: container "server" envFrom: ConfigMap "certctl-env" is not rendered in namespace "certctl" and not user-provided`,
		},
		{
			name:  "optional references may be absent",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				ref := at(t, serverContainer(t, objs), "envFrom", "0", "configMapRef")
				ref["name"], ref["optional"] = "certctl-env", true
				return objs
			},
		},
		{
			name:  "missing ConfigMap volume item key",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "volumes", "0", "configMap", "items", "0")["key"] = "config.yml"
				return objs
			},
			want: `Deployment/certctl-server: volume "config": ConfigMap "certctl-config" has no key "config.yml"`,
		},
		{
			name:  "a Certificate's Secret has only the keys cert-manager writes",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "volumes", "1", "secret", "items", "0")["key"] = "cert.pem"
				return objs
			},
			want: `Deployment/certctl-server: volume "tls": Secret "certctl-tls" has no key "cert.pem" (has [ca.crt tls.crt tls.key])`,
		},
		{
			name:  "projected volume sources are followed",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				tls := at(t, serverPod(t, objs), "volumes", "1")
				delete(tls, "secret")
				tls["projected"] = map[string]any{"sources": []any{
					map[string]any{"secret": map[string]any{"name": "certctl-tls", "items": []any{map[string]any{"key": "tls.pem", "path": "tls.pem"}}}},
				}}
				return objs
			},
			want: `Deployment/certctl-server: volume "tls": Secret "certctl-tls" has no key "tls.pem"`,
		},
		{
			name:  "user-provided Secret must be listed",
			check: references,
			opts:  &Options{},
			mutate: func(t *testing.T, objs []Object) []Object {
				return objs
			},
			want: `Ingress/certctl: spec.tls[0]: Secret "my-tls" is not rendered in namespace "certctl" and not user-provided`,
		},
		{
			name:  "user-provided Secret keys are exempt",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, serverPod(t, objs), "volumes", "1", "secret")["secretName"] = "my-tls"
				at(t, serverPod(t, objs), "volumes", "1", "secret", "items", "0")["key"] = "anything"
				return objs
			},
		},
		{
			name:  "missing ServiceAccount",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				serverPod(t, objs)["serviceAccountName"] = "certctl-server"
				return objs
			},
			want: `Deployment/certctl-server: serviceAccountName: ServiceAccount "certctl-server" is not rendered`,
		},
		{
			name:  "missing imagePullSecret",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				serverPod(t, objs)["imagePullSecrets"] = []any{map[string]any{"name": "ghcr"}}
				return objs
			},
			want: `Deployment/certctl-server: imagePullSecrets: Secret "ghcr" is not rendered`,
		},
		{
			name:  "missing PersistentVolumeClaim",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				addVolume(t, objs, "data", "certctl-data")
				return objs
			},
			want: `Deployment/certctl-server: volume "data": PersistentVolumeClaim "certctl-data" is not rendered`,
		},
		{
			name:  "user-provided PersistentVolumeClaim",
			check: references,
			opts:  &Options{UserProvided: map[string]bool{"Secret/my-tls": true, "PersistentVolumeClaim/certctl-data": true}},
			mutate: func(t *testing.T, objs []Object) []Object {
				addVolume(t, objs, "data", "certctl-data")
				return objs
			},
		},
		{
			name:  "a StatefulSet's claim templates provide its claims",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				sts := find(t, objs, "StatefulSet", "certctl-postgres")
				at(t, sts, "spec", "template", "spec")["volumes"] = []any{
					map[string]any{"name": "data", "persistentVolumeClaim": map[string]any{"claimName": "data"}},
				}
				return objs
			},
		},
		{
			name:  "Ingress backend port the Service lacks",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				ing := find(t, objs, "Ingress", "certctl")
				at(t, ing, "spec", "rules", "0", "http", "paths", "0", "backend", "service")["port"] = map[string]any{"number": float64(8443)}
				return objs
			},
			want: `Ingress/certctl: spec.rules[0].http.paths[0].backend.service: Service "certctl-server" has no port "8443" (has [443 https])`,
		},
		{
			name:  "Ingress backend by port number",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				ing := find(t, objs, "Ingress", "certctl")
				at(t, ing, "spec", "rules", "0", "http", "paths", "0", "backend", "service")["port"] = map[string]any{"number": float64(443)}
				return objs
			},
		},
		{
			name:  "RoleBinding to a missing Role",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "RoleBinding", "certctl"), "roleRef")["name"] = "certctl-reader"
				return objs
			},
			want: `RoleBinding/certctl: roleRef: Role "certctl-reader" is not rendered`,
		},
		{
			name:  "RoleBinding to a missing ServiceAccount",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "RoleBinding", "certctl"), "subjects", "0")["name"] = "certctl-agent"
				return objs
			},
			want: `RoleBinding/certctl: subjects[0]: ServiceAccount "certctl-agent" is not rendered in namespace "certctl"`,
		},
		{
			name:  "ClusterRoleBinding to a user-provided ClusterRole",
			check: references,
			opts:  &Options{UserProvided: map[string]bool{"Secret/my-tls": true, "ClusterRole/view": true}},
			mutate: func(t *testing.T, objs []Object) []Object {
				return add(t, objs, `
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: certctl-view}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{kind: ServiceAccount, name: certctl, namespace: certctl}]`)
			},
		},
		{
			name:  "ServiceMonitor referring to a missing Secret",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ServiceMonitor", "certctl"), "spec", "endpoints", "0", "bearerTokenSecret")["name"] = "certctl-metrics"
				return objs
			},
			want: `ServiceMonitor/certctl: spec.endpoints[0].bearerTokenSecret: Secret "certctl-metrics" is not rendered`,
		},
		{
			name:  "ServiceMonitor CA key the Certificate does not write",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "ServiceMonitor", "certctl"), "spec", "endpoints", "0", "tlsConfig", "ca", "secret")["key"] = "ca.pem"
				return objs
			},
			want: `ServiceMonitor/certctl: spec.endpoints[0].tlsConfig.ca.secret: Secret "certctl-tls" has no key "ca.pem"`,
		},
		{
			name:  "references resolve in the referring namespace",
			check: references,
			mutate: func(t *testing.T, objs []Object) []Object {
				at(t, find(t, objs, "Secret", "certctl-scrape"), "metadata")["namespace"] = "monitoring"
				return objs
			},
			want: `ServiceMonitor/certctl: spec.endpoints[0].bearerTokenSecret: Secret "certctl-scrape" is not rendered in namespace "certctl"`,
		},
	})
}

func TestMissingObjectReportedOnce(t *testing.T) {
	// The Ingress asks for two keys of the absent Secret; one problem says it all.
	errs := CheckReferences(parseObjects(t, validManifest), Options{})
	if len(errs) != 1 {
		t.Errorf("want exactly one problem, got %d:\n\t%s", len(errs), joinErrors(errs))
	}
}

func TestCheckDuplicates(t *testing.T) {
	runDefects(t, []defect{{
		name:  "object rendered twice",
		check: duplicates,
		mutate: func(t *testing.T, objs []Object) []Object {
			return add(t, objs, `{apiVersion: v1, kind: ConfigMap, metadata: {name: certctl-config, namespace: certctl}}`)
		},
		want: `ConfigMap/certctl-config: rendered 2 times in namespace "certctl"`,
	}})
}

// addVolume mounts the claim claimName as volume name into the server pod.
func addVolume(t *testing.T, objs []Object, name, claimName string) {
	pod := serverPod(t, objs)
	pod["volumes"] = append(pod["volumes"].([]any), map[string]any{
		"name": name, "persistentVolumeClaim": map[string]any{"claimName": claimName},
	})
	c := serverContainer(t, objs)
	c["volumeMounts"] = append(c["volumeMounts"].([]any), map[string]any{"name": name, "mountPath": "/data"})
}

func TestCheckAcceptsTypedValues(t *testing.T) {
	objs := parseObjects(t, validManifest)
	// A harness may build values from Go types rather than decoding JSON.
	at(t, find(t, objs, "Secret", "certctl-db"), "metadata")["labels"] = map[string]string{"app.kubernetes.io/name": "certctl"}
	at(t, find(t, objs, "ConfigMap", "certctl-config"))["data"] = map[string]string{"config.yaml": "x", "LOG_LEVEL": "info"}
	for _, err := range Check(objs, validOptions) {
		t.Error(err)
	}
}
