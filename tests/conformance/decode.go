package conformance

import (
	"encoding/json"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	kjson "sigs.k8s.io/json"
)

// builtins maps "apiVersion/kind" to a constructor of the k8s.io/api type the API server decodes
// that kind into.
var builtins = map[string]func() any{
	"v1/Namespace":             func() any { return &corev1.Namespace{} },
	"v1/ServiceAccount":        func() any { return &corev1.ServiceAccount{} },
	"v1/ConfigMap":             func() any { return &corev1.ConfigMap{} },
	"v1/Secret":                func() any { return &corev1.Secret{} },
	"v1/Service":               func() any { return &corev1.Service{} },
	"v1/PersistentVolumeClaim": func() any { return &corev1.PersistentVolumeClaim{} },
	"apps/v1/Deployment":       func() any { return &appsv1.Deployment{} },
	"apps/v1/StatefulSet":      func() any { return &appsv1.StatefulSet{} },
	"apps/v1/DaemonSet":        func() any { return &appsv1.DaemonSet{} },
	"batch/v1/Job":             func() any { return &batchv1.Job{} },
	"batch/v1/CronJob":         func() any { return &batchv1.CronJob{} },
	"rbac.authorization.k8s.io/v1/ClusterRole":        func() any { return &rbacv1.ClusterRole{} },
	"rbac.authorization.k8s.io/v1/ClusterRoleBinding": func() any { return &rbacv1.ClusterRoleBinding{} },
	"rbac.authorization.k8s.io/v1/Role":               func() any { return &rbacv1.Role{} },
	"rbac.authorization.k8s.io/v1/RoleBinding":        func() any { return &rbacv1.RoleBinding{} },
	"networking.k8s.io/v1/Ingress":                    func() any { return &networkingv1.Ingress{} },
	"networking.k8s.io/v1/NetworkPolicy":              func() any { return &networkingv1.NetworkPolicy{} },
	"policy/v1/PodDisruptionBudget":                   func() any { return &policyv1.PodDisruptionBudget{} },
}

// StrictDecode reports whether the API server would take obj unchanged. A built-in kind is
// decoded into its k8s.io/api type rejecting unknown, misplaced, duplicate or mis-cased fields
// (the server would silently drop them) and wrongly typed values; a custom resource is validated
// against its CRD (see ValidateCustomResource). Any other apiVersion/kind is an error.
func StrictDecode(obj Object) error {
	newTyped, ok := builtins[gvk(obj)]
	if !ok {
		if _, isCR, err := crdFor(obj); isCR || err != nil {
			return ValidateCustomResource(obj)
		}
		return problemf(obj, "unknown apiVersion/kind %q: neither a built-in kind this checker knows nor a custom resource with a CRD in tests/testdata/crds", gvk(obj))
	}
	return Decode(obj, newTyped())
}

// Decode decodes a built-in object strictly (as StrictDecode checks it) into into, a pointer to
// its k8s.io/api type, so tests can read the typed fields.
func Decode(obj Object, into any) error {
	data, err := json.Marshal(obj)
	if err != nil {
		return problemf(obj, "not serializable to JSON: %v", err)
	}
	strictErrs, err := kjson.UnmarshalStrict(data, into)
	if err != nil {
		return problemf(obj, "does not decode as %s: %v", gvk(obj), err)
	}
	if len(strictErrs) > 0 {
		return problemf(obj, "%s", joinErrors(strictErrs))
	}
	return nil
}

func joinErrors(errs []error) string {
	msgs := make([]string, len(errs))
	for i, err := range errs {
		msgs[i] = err.Error()
	}
	return strings.Join(msgs, "; ")
}
