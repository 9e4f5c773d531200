package conformance

import (
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// validManifest is a small, fully consistent set: a server Deployment with a restricted pod and
// its Service, Secrets, ConfigMap, ServiceAccount, RBAC, Ingress, PDB, NetworkPolicy; a
// database StatefulSet with a claim template and a headless Service; a backup CronJob; and the
// custom resources Certificate, ServiceMonitor and PrometheusRule.
// The Ingress's TLS Secret "my-tls" is user-provided (validOptions).
const validManifest = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: certctl, namespace: certctl}
---
apiVersion: v1
kind: Secret
metadata: {name: certctl-db, namespace: certctl}
type: Opaque
data: {url: cG9zdGdyZXM6Ly9kYg==}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Secret
metadata: {name: certctl-scrape, namespace: certctl}
stringData: {token: scrape-token}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: certctl-config, namespace: certctl}
data: {config.yaml: "listen: :8443", LOG_LEVEL: info}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: certctl, namespace: certctl}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: certctl, namespace: certctl}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: certctl}
subjects:
- {kind: ServiceAccount, name: certctl, namespace: certctl}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: certctl-server
  namespace: certctl
  labels: {app.kubernetes.io/name: certctl, app.kubernetes.io/component: server}
  annotations: {example.com/note: rendered}
spec:
  replicas: 2
  selector:
    matchLabels: {app.kubernetes.io/name: certctl, app.kubernetes.io/component: server}
  template:
    metadata:
      labels: {app.kubernetes.io/name: certctl, app.kubernetes.io/component: server, app.kubernetes.io/version: "1.0.0"}
    spec:
      serviceAccountName: certctl
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 1000
        fsGroup: 1000
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: server
        image: ghcr.io/certctl-io/certctl:1.0.0
        ports:
        - {name: https, containerPort: 8443}
        env:
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: certctl-db, key: password}}
        - name: DB_URL
          valueFrom: {secretKeyRef: {name: certctl-db, key: url}}
        - name: LOG_LEVEL
          valueFrom: {configMapKeyRef: {name: certctl-config, key: LOG_LEVEL}}
        envFrom:
        - configMapRef: {name: certctl-config}
        resources:
          requests: {cpu: 100m, memory: 128Mi}
        securityContext:
          allowPrivilegeEscalation: false
          readOnlyRootFilesystem: true
          capabilities: {drop: [ALL]}
        volumeMounts:
        - {name: config, mountPath: /etc/certctl}
        - {name: tls, mountPath: /etc/certctl/tls, readOnly: true}
        - {name: tmp, mountPath: /tmp}
      volumes:
      - name: config
        configMap:
          name: certctl-config
          items: [{key: config.yaml, path: config.yaml}]
      - name: tls
        secret:
          secretName: certctl-tls
          items: [{key: tls.crt, path: tls.crt}, {key: tls.key, path: tls.key}, {key: ca.crt, path: ca.crt}]
      - {name: tmp, emptyDir: {}}
---
apiVersion: v1
kind: Service
metadata:
  name: certctl-server
  namespace: certctl
  labels: {app.kubernetes.io/name: certctl, app.kubernetes.io/component: server}
spec:
  selector: {app.kubernetes.io/name: certctl, app.kubernetes.io/component: server}
  ports:
  - {name: https, port: 443, targetPort: https}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: certctl, namespace: certctl}
spec:
  tls:
  - {hosts: [certctl.example.com], secretName: my-tls}
  rules:
  - host: certctl.example.com
    http:
      paths:
      - path: /
        pathType: Prefix
        backend: {service: {name: certctl-server, port: {name: https}}}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: certctl-server, namespace: certctl}
spec:
  maxUnavailable: 1
  selector:
    matchLabels: {app.kubernetes.io/component: server}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: certctl-server, namespace: certctl}
spec:
  podSelector:
    matchLabels: {app.kubernetes.io/component: server}
  policyTypes: [Ingress]
  ingress:
  - ports: [{port: 8443, protocol: TCP}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: certctl-postgres, namespace: certctl}
spec:
  serviceName: certctl-postgres
  selector:
    matchLabels: {app.kubernetes.io/component: postgres}
  template:
    metadata:
      labels: {app.kubernetes.io/component: postgres}
    spec:
      securityContext:
        runAsNonRoot: true
        runAsUser: 999
        seccompProfile: {type: RuntimeDefault}
      containers:
      - name: postgres
        image: postgres:17
        ports: [{name: postgres, containerPort: 5432}]
        env:
        - name: POSTGRES_PASSWORD
          valueFrom: {secretKeyRef: {name: certctl-db, key: password}}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {drop: [ALL]}
        volumeMounts: [{name: data, mountPath: /var/lib/postgresql/data}]
  volumeClaimTemplates:
  - metadata: {name: data}
    spec:
      accessModes: [ReadWriteOnce]
      resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Service
metadata: {name: certctl-postgres, namespace: certctl}
spec:
  clusterIP: None
  selector: {app.kubernetes.io/component: postgres}
  ports:
  - {name: postgres, port: 5432}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: certctl-backup, namespace: certctl}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        metadata:
          labels: {app.kubernetes.io/component: backup}
        spec:
          restartPolicy: OnFailure
          securityContext:
            runAsNonRoot: true
            runAsUser: 1000
            seccompProfile: {type: RuntimeDefault}
          containers:
          - name: backup
            image: ghcr.io/certctl-io/certctl:1.0.0
            args: [backup]
            securityContext:
              allowPrivilegeEscalation: false
              capabilities: {drop: [ALL]}
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: certctl-tls, namespace: certctl}
spec:
  secretName: certctl-tls
  duration: 2160h
  renewBefore: 360h
  dnsNames: [certctl-server.certctl.svc]
  issuerRef: {name: ca-issuer, kind: ClusterIssuer, group: cert-manager.io}
  privateKey: {algorithm: ECDSA, size: 256}
---
apiVersion: monitoring.coreos.com/v1
kind: ServiceMonitor
metadata: {name: certctl, namespace: certctl}
spec:
  selector:
    matchLabels: {app.kubernetes.io/component: server}
  endpoints:
  - port: https
    scheme: https
    path: /metrics
    interval: 30s
    bearerTokenSecret: {name: certctl-scrape, key: token}
    tlsConfig:
      serverName: certctl-server.certctl.svc
      ca: {secret: {name: certctl-tls, key: ca.crt}}
---
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: certctl, namespace: certctl}
spec:
  groups:
  - name: certctl
    rules:
    - alert: CertctlDown
      expr: up{job="certctl-server"} == 0
      for: 5m
      labels: {severity: critical}
      annotations: {summary: certctl is down}
`

var validOptions = Options{UserProvided: map[string]bool{"Secret/my-tls": true}}

// parseObjects decodes a multi-document manifest into Objects the way the harness hands them
// over: nested map[string]any with float64 numbers.
func parseObjects(t *testing.T, manifest string) []Object {
	t.Helper()
	var objs []Object
	for _, doc := range strings.Split(manifest, "\n---\n") {
		var obj Object
		if err := yaml.Unmarshal([]byte(doc), &obj); err != nil {
			t.Fatalf("fixture: %v\n%s", err, doc)
		}
		if obj != nil {
			objs = append(objs, obj)
		}
	}
	return objs
}

// find returns the object of kind and name in objs, failing the test if there is none.
func find(t *testing.T, objs []Object, kind, name string) Object {
	t.Helper()
	for _, obj := range objs {
		if kindOf(obj) == kind && nameOf(obj) == name {
			return obj
		}
	}
	t.Fatalf("fixture has no %s/%s", kind, name)
	return nil
}

// at returns the map at path in obj; list elements are addressed by their index as "0", "1"...
func at(t *testing.T, obj Object, path ...string) map[string]any {
	t.Helper()
	var v any = obj
	for _, p := range path {
		switch c := v.(type) {
		case map[string]any:
			v = c[p]
		case []any:
			i := 0
			for _, r := range p {
				i = i*10 + int(r-'0')
			}
			v = c[i]
		}
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("fixture has no map at %v", path)
	}
	return m
}
