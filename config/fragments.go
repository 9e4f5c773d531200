package config

import (
	"net/netip"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	psaapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Kubernetes fragments the user writes as in a manifest (affinity, env sources, volumes,
// NetworkPolicy rules) are checked here, before they are rendered. The API server's own
// validation lives in k8s.io/kubernetes, which is not importable; these checks use the parts of
// it that are published as libraries (apimachinery's label-selector and name validation, the
// scheduler's node-selector parser, the PodSecurity admission evaluator) and cover the rest
// with the API's documented rules.

// fieldErrors reports the errors of a Kubernetes validator, whose paths are our key paths.
func fieldErrors(p *problems, errs []error, fix string) {
	for _, err := range errs {
		if fe, ok := err.(*field.Error); ok {
			p.add(fe.Field, fe.ErrorBody(), fix)
		} else {
			p.add("", err.Error(), fix)
		}
	}
}

func fieldErrorList(list field.ErrorList) []error {
	out := make([]error, len(list))
	for i, e := range list {
		out[i] = e
	}
	return out
}

// checkAffinity parses node affinity as the scheduler does and checks pod (anti-)affinity terms.
func checkAffinity(p *problems, key string, a *corev1.Affinity) {
	if a == nil {
		return
	}
	root := field.NewPath(key)
	if na := a.NodeAffinity; na != nil {
		if req := na.RequiredDuringSchedulingIgnoredDuringExecution; req != nil {
			if _, err := nodeaffinity.NewNodeSelector(req, field.WithPath(root.Child("nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"))); err != nil {
				fieldErrors(p, flatten(err), "use the operators In, NotIn, Exists, DoesNotExist, Gt or Lt with values as each needs")
			}
		}
		if _, err := nodeaffinity.NewPreferredSchedulingTerms(na.PreferredDuringSchedulingIgnoredDuringExecution,
			field.WithPath(root.Child("nodeAffinity", "preferredDuringSchedulingIgnoredDuringExecution"))); err != nil {
			fieldErrors(p, flatten(err), "use the operators In, NotIn, Exists, DoesNotExist, Gt or Lt with values as each needs")
		}
	}
	for name, pa := range map[string]*corev1.PodAffinity{"podAffinity": a.PodAffinity} {
		if pa != nil {
			checkPodAffinityTerms(p, root.Child(name), pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	if paa := a.PodAntiAffinity; paa != nil {
		checkPodAffinityTerms(p, root.Child("podAntiAffinity"), paa.RequiredDuringSchedulingIgnoredDuringExecution, paa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
}

func checkPodAffinityTerms(p *problems, path *field.Path, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) {
	for i, t := range required {
		checkPodAffinityTerm(p, path.Child("requiredDuringSchedulingIgnoredDuringExecution").Index(i), t)
	}
	for i, w := range preferred {
		k := path.Child("preferredDuringSchedulingIgnoredDuringExecution").Index(i)
		if w.Weight < 1 || w.Weight > 100 {
			p.addf(k.Child("weight").String(), "set it between 1 and 100", "%d is outside 1-100", w.Weight)
		}
		checkPodAffinityTerm(p, k.Child("podAffinityTerm"), w.PodAffinityTerm)
	}
}

func checkPodAffinityTerm(p *problems, path *field.Path, t corev1.PodAffinityTerm) {
	if t.TopologyKey == "" {
		p.add(path.Child("topologyKey").String(), "is empty, and Kubernetes refuses a term without one", `set the node label to group by, e.g. "kubernetes.io/hostname"`)
	} else if errs := validation.IsQualifiedName(t.TopologyKey); len(errs) > 0 {
		p.addf(path.Child("topologyKey").String(), `use a label key such as "kubernetes.io/hostname"`, "%q is not a label key: %s", t.TopologyKey, joinErrs(errs))
	}
	opts := metav1validation.LabelSelectorValidationOptions{}
	fieldErrors(p, fieldErrorList(metav1validation.ValidateLabelSelector(t.LabelSelector, opts, path.Child("labelSelector"))), selectorFix)
	fieldErrors(p, fieldErrorList(metav1validation.ValidateLabelSelector(t.NamespaceSelector, opts, path.Child("namespaceSelector"))), selectorFix)
}

const selectorFix = "use matchLabels, or matchExpressions with In, NotIn (with values), Exists or DoesNotExist (without)"

func flatten(err error) []error {
	if agg, ok := err.(interface{ Errors() []error }); ok {
		return agg.Errors()
	}
	return []error{err}
}

// checkEnvSource checks where an extraEnv entry reads its value from.
func checkEnvSource(p *problems, key string, from *corev1.EnvVarSource) {
	if from == nil {
		return
	}
	type ref struct {
		kind, name, key string
	}
	var refs []ref
	if s := from.SecretKeyRef; s != nil {
		refs = append(refs, ref{"secretKeyRef", s.Name, s.Key})
	}
	if c := from.ConfigMapKeyRef; c != nil {
		refs = append(refs, ref{"configMapKeyRef", c.Name, c.Key})
	}
	sources := len(refs)
	if f := from.FieldRef; f != nil {
		sources++
		if !slices.Contains(envFieldPaths, f.FieldPath) && !isLabelOrAnnotationPath(f.FieldPath) {
			p.addf(key+".fieldRef.fieldPath", "use one of "+strings.Join(envFieldPaths, ", ")+", or metadata.labels['<key>'] / metadata.annotations['<key>']",
				"%q is not a field the downward API gives a container", f.FieldPath)
		}
	}
	if from.ResourceFieldRef != nil {
		sources++
	}
	if sources != 1 {
		p.addf(key, "give exactly one of secretKeyRef, configMapKeyRef, fieldRef, resourceFieldRef", "has %d sources", sources)
	}
	for _, r := range refs {
		k := key + "." + r.kind
		checkName(p, k+".name", r.name, dnsSubdomain)
		if errs := validation.IsConfigMapKey(r.key); len(errs) > 0 {
			p.addf(k+".key", "set the key to read", "%q is not a key: %s", r.key, joinErrs(errs))
		}
	}
}

// envFieldPaths are the fields the downward API exposes as environment variables.
var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid", "spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

func isLabelOrAnnotationPath(p string) bool {
	for _, prefix := range []string{"metadata.labels['", "metadata.annotations['"} {
		if len(p) > len(prefix)+2 && p[:len(prefix)] == prefix && p[len(p)-2:] == "']" {
			return true
		}
	}
	return false
}

var podSecurity = sync.OnceValues(func() (policy.Evaluator, error) {
	return policy.NewEvaluator(policy.DefaultChecks())
})

// restrictedVolumeViolation is why a volume would break the "restricted" Pod Security level,
// judged by the PodSecurity admission evaluator on a pod that is otherwise restricted.
func restrictedVolumeViolation(v corev1.Volume) string {
	eval, err := podSecurity()
	if err != nil {
		return err.Error()
	}
	no, yes := false, true
	spec := &corev1.PodSpec{
		SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "c", SecurityContext: &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}}},
		Volumes: []corev1.Volume{v},
	}
	level := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
	for _, r := range eval.EvaluatePod(level, &metav1.ObjectMeta{}, spec) {
		if !r.Allowed {
			return r.ForbiddenReason + ": " + r.ForbiddenDetail
		}
	}
	return ""
}

// checkVolumeSource refuses what the API server or the restricted level would refuse.
func checkVolumeSource(p *problems, key string, v corev1.Volume) {
	if reason := restrictedVolumeViolation(v); reason != "" {
		p.addf(key, "use a secret, configMap, emptyDir, projected, downwardAPI, persistentVolumeClaim, csi or ephemeral volume",
			"breaks the \"restricted\" Pod Security level every pod here meets (%s)", reason)
	}
	switch {
	case v.Secret != nil:
		checkName(p, key+".secret.secretName", v.Secret.SecretName, dnsSubdomain)
	case v.ConfigMap != nil:
		checkName(p, key+".configMap.name", v.ConfigMap.Name, dnsSubdomain)
	case v.PersistentVolumeClaim != nil:
		checkName(p, key+".persistentVolumeClaim.claimName", v.PersistentVolumeClaim.ClaimName, dnsSubdomain)
	case v.EmptyDir != nil && v.EmptyDir.SizeLimit != nil && v.EmptyDir.SizeLimit.Sign() <= 0:
		p.add(key+".emptyDir.sizeLimit", "is not positive", `set a size such as "1Gi", or remove sizeLimit`)
	}
}

// checkNetworkPolicyPeers and checkNetworkPolicyPorts check the user's extra rules.
func checkNetworkPolicyPeers(p *problems, key string, peers []networkingv1.NetworkPolicyPeer) {
	for i, peer := range peers {
		k := field.NewPath(key).Index(i)
		if b := peer.IPBlock; b != nil {
			if peer.PodSelector != nil || peer.NamespaceSelector != nil {
				p.add(k.String(), "combines ipBlock with a selector, which Kubernetes refuses", "split them into two peers")
			}
			cidr, err := netip.ParsePrefix(b.CIDR)
			if err != nil {
				p.addf(k.Child("ipBlock", "cidr").String(), `use a CIDR such as "10.0.0.0/8"`, "%q is not a CIDR", b.CIDR)
			}
			for j, ex := range b.Except {
				exPrefix, err := netip.ParsePrefix(ex)
				if err != nil || cidr.IsValid() && !(cidr.Overlaps(exPrefix) && exPrefix.Bits() > cidr.Bits()) {
					p.addf(k.Child("ipBlock", "except").Index(j).String(), "use a CIDR strictly inside "+b.CIDR, "%q is not a CIDR inside the block", ex)
				}
			}
		}
		opts := metav1validation.LabelSelectorValidationOptions{}
		fieldErrors(p, fieldErrorList(metav1validation.ValidateLabelSelector(peer.PodSelector, opts, k.Child("podSelector"))), selectorFix)
		fieldErrors(p, fieldErrorList(metav1validation.ValidateLabelSelector(peer.NamespaceSelector, opts, k.Child("namespaceSelector"))), selectorFix)
	}
}

func checkNetworkPolicyPorts(p *problems, key string, ports []networkingv1.NetworkPolicyPort) {
	for i, port := range ports {
		k := index(key, i)
		if port.Protocol != nil {
			oneOf(p, k+".protocol", string(*port.Protocol), "TCP", "UDP", "SCTP")
		}
		if port.Port == nil {
			continue
		}
		if port.Port.Type == 0 { // a number
			if errs := validation.IsValidPortNum(int(port.Port.IntVal)); len(errs) > 0 {
				p.addf(k+".port", "use a port between 1 and 65535, or a port name", "%d is not a port: %s", port.Port.IntVal, joinErrs(errs))
			}
			if port.EndPort != nil && *port.EndPort < port.Port.IntVal {
				p.addf(k+".endPort", "set it to the port or above", "%d is below port %d", *port.EndPort, port.Port.IntVal)
			}
		} else if errs := validation.IsValidPortName(port.Port.StrVal); len(errs) > 0 {
			p.addf(k+".port", "use a port number or an IANA service name such as \"https\"", "%q is not a port name: %s", port.Port.StrVal, joinErrs(errs))
		}
	}
}
