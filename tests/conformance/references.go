package conformance

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// ref is one reference from a rendered object to another object that must exist.
type ref struct {
	kind, namespace, name string
	// part is what the referenced object must have besides existing: a key of a Secret or
	// ConfigMap, or a port (name or number) of a Service.
	part string
	// optional references (optional: true) may name an absent object or key.
	optional bool
	from     string // where the reference is, for the message
}

// CheckReferences reports references to objects the set does not render, unless the object is
// listed in opts.UserProvided (whose keys are then not checked either):
//   - from pod templates: env secretKeyRef/configMapKeyRef (name and key), envFrom, secret,
//     configMap and projected volumes (with their items' keys), imagePullSecrets,
//     serviceAccountName (except "default") and persistentVolumeClaim claims (a StatefulSet's
//     volumeClaimTemplates provide those its pods use);
//   - an Ingress's TLS Secrets (with tls.crt and tls.key) and backend Services and ports;
//   - a RoleBinding's or ClusterRoleBinding's roleRef and ServiceAccount subjects;
//   - a ServiceMonitor endpoint's Secret and ConfigMap key selectors (bearerTokenSecret,
//     authorization, basicAuth, oauth2, tlsConfig).
//
// A cert-manager Certificate provides its spec.secretName Secret with the keys cert-manager
// writes (tls.crt, tls.key, ca.crt, plus those of additionalOutputFormats and keystores).
// References resolve in the referring object's namespace.
func CheckReferences(objs []Object, opts Options) []error {
	ix := newIndex(objs, opts)
	var errs []error
	for _, obj := range objs {
		seen := map[string]bool{} // a missing object is reported once, not once per key asked of it
		for _, r := range refsOf(obj) {
			msg := ix.resolve(r)
			if msg != "" && !seen[r.from+msg] {
				seen[r.from+msg] = true
				errs = append(errs, problemf(obj, "%s: %s", r.from, msg))
			}
		}
	}
	return errs
}

// index records what a rendered set provides: each object, with the parts (keys or ports) a
// reference may ask for, by "Kind/namespace/name".
type index struct {
	opts    Options
	objects map[string]map[string]bool
}

func newIndex(objs []Object, opts Options) *index {
	ix := &index{opts: opts, objects: map[string]map[string]bool{}}
	for _, obj := range objs {
		ix.add(kindOf(obj), namespaceOf(obj), nameOf(obj), partsOf(obj))
		if kindOf(obj) == "Certificate" {
			ix.add("Secret", namespaceOf(obj), str(Nested(obj, "spec", "secretName")), certificateKeys(obj))
		}
	}
	return ix
}

func indexKey(kind, namespace, name string) string {
	if clusterScoped[kind] {
		namespace = ""
	}
	return kind + "/" + namespace + "/" + name
}

func (ix *index) add(kind, namespace, name string, parts map[string]bool) {
	k := indexKey(kind, namespace, name)
	if ix.objects[k] == nil {
		ix.objects[k] = map[string]bool{}
	}
	for p := range parts {
		ix.objects[k][p] = true
	}
}

// resolve returns what is wrong with r, or "" when it resolves.
func (ix *index) resolve(r ref) string {
	if r.name == "" {
		return fmt.Sprintf("refers to a %s without a name", r.kind)
	}
	if ix.opts.provided(r.kind, r.name) {
		return ""
	}
	parts, ok := ix.objects[indexKey(r.kind, r.namespace, r.name)]
	switch {
	case r.optional:
		return ""
	case !ok:
		return fmt.Sprintf("%s %q is not rendered in namespace %q and not user-provided", r.kind, r.name, r.namespace)
	case r.part != "" && !parts[r.part]:
		what := "key"
		if r.kind == "Service" {
			what = "port"
		}
		return fmt.Sprintf("%s %q has no %s %q (has %v)", r.kind, r.name, what, r.part, sortedKeys(parts))
	}
	return ""
}

// partsOf returns what references may ask of obj: Secret and ConfigMap keys, Service ports.
func partsOf(obj Object) map[string]bool {
	switch gvk(obj) {
	case "v1/Secret":
		keys := stringKeys(obj["data"])
		for k := range stringKeys(obj["stringData"]) {
			keys[k] = true
		}
		return keys
	case "v1/ConfigMap":
		keys := stringKeys(obj["data"])
		for k := range stringKeys(obj["binaryData"]) {
			keys[k] = true
		}
		return keys
	case "v1/Service":
		svc, err := decodeAs[corev1.Service](obj)
		if err != nil {
			return nil
		}
		ports := map[string]bool{}
		for _, p := range svc.Spec.Ports {
			ports[strconv.Itoa(int(p.Port))] = true
			if p.Name != "" {
				ports[p.Name] = true
			}
		}
		return ports
	}
	return nil
}

// certificateKeys are the keys cert-manager writes to a Certificate's Secret.
func certificateKeys(obj Object) map[string]bool {
	keys := map[string]bool{"tls.crt": true, "tls.key": true, "ca.crt": true}
	for _, f := range list(Nested(obj, "spec", "additionalOutputFormats")) {
		switch str(Nested(f, "type")) {
		case "CombinedPEM":
			keys["tls-combined.pem"] = true
		case "DER":
			keys["key.der"] = true
		}
	}
	if Nested(obj, "spec", "keystores", "jks", "create") == true {
		keys["keystore.jks"], keys["truststore.jks"] = true, true
	}
	if Nested(obj, "spec", "keystores", "pkcs12", "create") == true {
		keys["keystore.p12"], keys["truststore.p12"] = true, true
	}
	return keys
}

// refsOf returns the references obj makes, each already in obj's namespace unless it names a
// different one.
func refsOf(obj Object) []ref {
	var refs []ref
	if w, ok := podTemplate(obj); ok {
		refs = podRefs(w)
	}
	switch gvk(obj) {
	case "networking.k8s.io/v1/Ingress":
		refs = ingressRefs(obj)
	case "rbac.authorization.k8s.io/v1/RoleBinding", "rbac.authorization.k8s.io/v1/ClusterRoleBinding":
		refs = bindingRefs(obj)
	case "monitoring.coreos.com/v1/ServiceMonitor":
		refs = serviceMonitorRefs(obj)
	}
	for i := range refs {
		refs[i].namespace = cmp.Or(refs[i].namespace, namespaceOf(obj))
	}
	return refs
}

func podRefs(w workload) []ref {
	spec := &w.template.Spec
	var refs []ref
	for _, c := range containers(spec) {
		for _, e := range c.Env {
			from := fmt.Sprintf("container %q env %s", c.Name, e.Name)
			switch {
			case e.ValueFrom == nil:
			case e.ValueFrom.SecretKeyRef != nil:
				s := e.ValueFrom.SecretKeyRef
				refs = append(refs, ref{kind: "Secret", name: s.Name, part: s.Key, optional: isTrue(s.Optional), from: from})
			case e.ValueFrom.ConfigMapKeyRef != nil:
				s := e.ValueFrom.ConfigMapKeyRef
				refs = append(refs, ref{kind: "ConfigMap", name: s.Name, part: s.Key, optional: isTrue(s.Optional), from: from})
			}
		}
		for _, e := range c.EnvFrom {
			from := fmt.Sprintf("container %q envFrom", c.Name)
			if s := e.SecretRef; s != nil {
				refs = append(refs, ref{kind: "Secret", name: s.Name, optional: isTrue(s.Optional), from: from})
			}
			if s := e.ConfigMapRef; s != nil {
				refs = append(refs, ref{kind: "ConfigMap", name: s.Name, optional: isTrue(s.Optional), from: from})
			}
		}
	}
	for _, v := range spec.Volumes {
		refs = append(refs, volumeRefs(w, v)...)
	}
	for _, s := range spec.ImagePullSecrets {
		refs = append(refs, ref{kind: "Secret", name: s.Name, from: "imagePullSecrets"})
	}
	// Every namespace has a "default" ServiceAccount.
	if sa := cmp.Or(spec.ServiceAccountName, spec.DeprecatedServiceAccount); sa != "" && sa != "default" {
		refs = append(refs, ref{kind: "ServiceAccount", name: sa, from: "serviceAccountName"})
	}
	return refs
}

func volumeRefs(w workload, v corev1.Volume) []ref {
	from := fmt.Sprintf("volume %q", v.Name)
	switch {
	case v.Secret != nil:
		return keyRefs("Secret", v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, from)
	case v.ConfigMap != nil:
		return keyRefs("ConfigMap", v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, from)
	case v.Projected != nil:
		var refs []ref
		for _, src := range v.Projected.Sources {
			if s := src.Secret; s != nil {
				refs = append(refs, keyRefs("Secret", s.Name, s.Items, s.Optional, from)...)
			}
			if s := src.ConfigMap; s != nil {
				refs = append(refs, keyRefs("ConfigMap", s.Name, s.Items, s.Optional, from)...)
			}
		}
		return refs
	case v.PersistentVolumeClaim != nil:
		// The StatefulSet controller replaces a volume named like a claim template with its claim.
		claim := v.PersistentVolumeClaim.ClaimName
		if w.claimTemplates[v.Name] || w.claimTemplates[claim] {
			return nil
		}
		return []ref{{kind: "PersistentVolumeClaim", name: claim, from: from}}
	}
	return nil
}

// keyRefs references a Secret or ConfigMap, and each key its items project.
func keyRefs(kind, name string, items []corev1.KeyToPath, optional *bool, from string) []ref {
	if len(items) == 0 {
		return []ref{{kind: kind, name: name, optional: isTrue(optional), from: from}}
	}
	refs := make([]ref, len(items))
	for i, it := range items {
		refs[i] = ref{kind: kind, name: name, part: it.Key, optional: isTrue(optional), from: from}
	}
	return refs
}

func isTrue(b *bool) bool { return b != nil && *b }

func ingressRefs(obj Object) []ref {
	ing, err := decodeAs[networkingv1.Ingress](obj)
	if err != nil {
		return nil // StrictDecode reports it
	}
	var refs []ref
	for i, tls := range ing.Spec.TLS {
		if tls.SecretName == "" {
			continue // the controller's default certificate
		}
		from := fmt.Sprintf("spec.tls[%d]", i)
		for _, key := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			refs = append(refs, ref{kind: "Secret", name: tls.SecretName, part: key, from: from})
		}
	}
	type backend struct {
		from string
		*networkingv1.IngressBackend
	}
	backends := []backend{{"spec.defaultBackend", ing.Spec.DefaultBackend}}
	for i, rule := range ing.Spec.Rules {
		if rule.HTTP == nil {
			continue
		}
		for j := range rule.HTTP.Paths {
			backends = append(backends, backend{fmt.Sprintf("spec.rules[%d].http.paths[%d].backend", i, j), &rule.HTTP.Paths[j].Backend})
		}
	}
	for _, b := range backends {
		if b.IngressBackend == nil || b.Service == nil {
			continue
		}
		port := b.Service.Port.Name
		if port == "" {
			port = strconv.Itoa(int(b.Service.Port.Number))
		}
		refs = append(refs, ref{kind: "Service", name: b.Service.Name, part: port, from: b.from + ".service"})
	}
	return refs
}

func bindingRefs(obj Object) []ref {
	b, err := decodeAs[struct {
		RoleRef  rbacv1.RoleRef   `json:"roleRef"`
		Subjects []rbacv1.Subject `json:"subjects"`
	}](obj)
	if err != nil {
		return nil // StrictDecode reports it
	}
	refs := []ref{{kind: b.RoleRef.Kind, name: b.RoleRef.Name, from: "roleRef"}}
	for i, s := range b.Subjects {
		if s.Kind == rbacv1.ServiceAccountKind && s.Name != "default" {
			refs = append(refs, ref{kind: "ServiceAccount", namespace: s.Namespace, name: s.Name, from: fmt.Sprintf("subjects[%d]", i)})
		}
	}
	return refs
}

// serviceMonitorKeySelectors are the Secret and ConfigMap key selectors of a ServiceMonitor
// endpoint (Prometheus Operator v0.85); the operator reads them from the ServiceMonitor's
// namespace.
var serviceMonitorKeySelectors = []struct {
	kind string
	path string
}{
	{"Secret", "bearerTokenSecret"},
	{"Secret", "authorization.credentials"},
	{"Secret", "basicAuth.username"},
	{"Secret", "basicAuth.password"},
	{"Secret", "oauth2.clientId.secret"},
	{"ConfigMap", "oauth2.clientId.configMap"},
	{"Secret", "oauth2.clientSecret"},
	{"Secret", "oauth2.tlsConfig.ca.secret"},
	{"ConfigMap", "oauth2.tlsConfig.ca.configMap"},
	{"Secret", "oauth2.tlsConfig.cert.secret"},
	{"ConfigMap", "oauth2.tlsConfig.cert.configMap"},
	{"Secret", "oauth2.tlsConfig.keySecret"},
	{"Secret", "tlsConfig.ca.secret"},
	{"ConfigMap", "tlsConfig.ca.configMap"},
	{"Secret", "tlsConfig.cert.secret"},
	{"ConfigMap", "tlsConfig.cert.configMap"},
	{"Secret", "tlsConfig.keySecret"},
}

func serviceMonitorRefs(obj Object) []ref {
	var refs []ref
	for i, ep := range list(Nested(obj, "spec", "endpoints")) {
		for _, s := range serviceMonitorKeySelectors {
			sel := Nested(ep, strings.Split(s.path, ".")...)
			if sel == nil {
				continue
			}
			refs = append(refs, ref{
				kind:     s.kind,
				name:     str(Nested(sel, "name")),
				part:     str(Nested(sel, "key")),
				optional: Nested(sel, "optional") == true,
				from:     fmt.Sprintf("spec.endpoints[%d].%s", i, s.path),
			})
		}
	}
	return refs
}
