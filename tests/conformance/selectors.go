package conformance

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// CheckSelectors reports selectors that select the wrong thing or nothing:
//   - a Deployment's, StatefulSet's or DaemonSet's spec.selector must match its own pod template
//     (the API server rejects it otherwise);
//   - a Service with a selector must select the pods of a workload in its namespace, and each
//     port's targetPort (a name, a number, or by default the port) must be a containerPort of
//     every workload it selects, or traffic goes nowhere;
//   - a PodDisruptionBudget's selector, a non-empty NetworkPolicy podSelector and a PodMonitor's
//     selector must select some workload's pods (an operator's too: a CloudNativePG Cluster's
//     instances), or they protect, isolate or scrape nothing;
//   - a ServiceMonitor's selector must select a Service in its namespace (or those of its
//     namespaceSelector), and each endpoint's port name must be a port of such a Service.
func CheckSelectors(objs []Object) []error {
	ws := workloads(objs)
	var errs []error
	for _, w := range ws {
		errs = append(errs, ownSelectorProblems(w)...)
	}
	svcs := services(objs)
	pods := append(operatedPods(objs), ws...)
	for _, obj := range objs {
		switch gvk(obj) {
		case "v1/Service":
			errs = append(errs, serviceSelectorProblems(obj, ws)...)
		case "policy/v1/PodDisruptionBudget":
			if pdb, err := decodeAs[policyv1.PodDisruptionBudget](obj); err == nil {
				errs = append(errs, selectsSomePods(obj, "spec.selector", pdb.Spec.Selector, pods)...)
			}
		case "networking.k8s.io/v1/NetworkPolicy":
			if np, err := decodeAs[networkingv1.NetworkPolicy](obj); err == nil {
				errs = append(errs, selectsSomePods(obj, "spec.podSelector", &np.Spec.PodSelector, pods)...)
			}
		case "monitoring.coreos.com/v1/PodMonitor":
			if ls, err := decodeAs[*metav1.LabelSelector](Nested(obj, "spec", "selector")); err == nil && ls != nil {
				errs = append(errs, selectsSomePods(obj, "spec.selector", ls, pods)...)
			}
		case "monitoring.coreos.com/v1/ServiceMonitor":
			errs = append(errs, serviceMonitorSelectorProblems(obj, svcs)...)
		}
	}
	return errs
}

// operatedPods are the pods operators create for custom resources, by the labels they give them:
// a CloudNativePG Cluster's instances carry cnpg.io/cluster=<name>.
func operatedPods(objs []Object) []workload {
	var out []workload
	for _, obj := range objs {
		if gvk(obj) == "postgresql.cnpg.io/v1/Cluster" {
			name, _ := Nested(obj, "metadata", "name").(string)
			out = append(out, workload{obj: obj, template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cnpg.io/cluster": name}},
			}})
		}
	}
	return out
}

// selectorKinds are the workload kinds whose spec.selector the user writes; Jobs generate theirs.
var selectorKinds = map[string]bool{"apps/v1/Deployment": true, "apps/v1/StatefulSet": true, "apps/v1/DaemonSet": true}

func ownSelectorProblems(w workload) []error {
	if !selectorKinds[gvk(w.obj)] {
		return nil
	}
	ls, err := decodeAs[*metav1.LabelSelector](Nested(w.obj, "spec", "selector"))
	if err != nil {
		return nil // StrictDecode reports the malformed selector
	}
	if ls == nil || len(ls.MatchLabels)+len(ls.MatchExpressions) == 0 {
		return []error{problemf(w.obj, "spec.selector is required and must not be empty")}
	}
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return []error{problemf(w.obj, "spec.selector is invalid: %v", err)}
	}
	if !sel.Matches(labels.Set(w.template.Labels)) {
		return []error{problemf(w.obj, "spec.selector %q does not match the pod template labels %v", sel, w.template.Labels)}
	}
	return nil
}

// selectedWorkloads returns the workloads in namespace ns whose pods sel selects.
func selectedWorkloads(ns string, sel labels.Selector, ws []workload) []workload {
	var out []workload
	for _, w := range ws {
		if namespaceOf(w.obj) == ns && sel.Matches(labels.Set(w.template.Labels)) {
			out = append(out, w)
		}
	}
	return out
}

// selectsSomePods reports a selector of obj that selects no workload's pods; an empty
// selector selects every pod and is fine.
func selectsSomePods(obj Object, fieldName string, ls *metav1.LabelSelector, ws []workload) []error {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return []error{problemf(obj, "%s is invalid: %v", fieldName, err)}
	}
	if sel.Empty() {
		return nil
	}
	if len(selectedWorkloads(namespaceOf(obj), sel, ws)) == 0 {
		return []error{problemf(obj, "%s %q selects no pods of any workload in namespace %q", fieldName, sel, namespaceOf(obj))}
	}
	return nil
}

func serviceSelectorProblems(obj Object, ws []workload) []error {
	svc, err := decodeAs[corev1.Service](obj)
	if err != nil || len(svc.Spec.Selector) == 0 {
		return nil // no selector: endpoints are managed by hand, or ExternalName
	}
	sel := labels.SelectorFromSet(svc.Spec.Selector)
	selected := selectedWorkloads(svc.Namespace, sel, ws)
	if len(selected) == 0 {
		return []error{problemf(obj, "spec.selector %q selects no pods of any workload in namespace %q", sel, svc.Namespace)}
	}
	var errs []error
	for _, p := range svc.Spec.Ports {
		target := p.TargetPort
		if target.Type == intstr.Int && target.IntVal == 0 {
			target = intstr.FromInt32(p.Port) // the API server's default
		}
		for _, w := range selected {
			if !exposesPort(w, target) {
				errs = append(errs, problemf(obj, "port %q: targetPort %s is not a containerPort of %s/%s", p.Name, target.String(), kindOf(w.obj), nameOf(w.obj)))
			}
		}
	}
	return errs
}

// exposesPort reports whether a container of w declares port, by name or by number.
func exposesPort(w workload, port intstr.IntOrString) bool {
	for _, c := range containers(&w.template.Spec) {
		for _, cp := range c.Ports {
			if port.Type == intstr.String && cp.Name == port.StrVal || port.Type == intstr.Int && cp.ContainerPort == port.IntVal {
				return true
			}
		}
	}
	return false
}

func services(objs []Object) []corev1.Service {
	var out []corev1.Service
	for _, obj := range objs {
		if gvk(obj) != "v1/Service" {
			continue
		}
		if svc, err := decodeAs[corev1.Service](obj); err == nil {
			out = append(out, svc)
		}
	}
	return out
}

// serviceMonitor is the part of a ServiceMonitor that says which Service ports it scrapes.
type serviceMonitor struct {
	Spec struct {
		Selector          metav1.LabelSelector `json:"selector"`
		NamespaceSelector struct {
			Any        bool     `json:"any"`
			MatchNames []string `json:"matchNames"`
		} `json:"namespaceSelector"`
		Endpoints []struct {
			Port string `json:"port"`
		} `json:"endpoints"`
	} `json:"spec"`
}

func serviceMonitorSelectorProblems(obj Object, svcs []corev1.Service) []error {
	sm, err := decodeAs[serviceMonitor](obj)
	if err != nil {
		return nil // ValidateCustomResource reports the malformed object
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		return []error{problemf(obj, "spec.selector is invalid: %v", err)}
	}
	// Without a namespaceSelector the Prometheus Operator looks in the ServiceMonitor's namespace.
	namespaces := sm.Spec.NamespaceSelector.MatchNames
	if len(namespaces) == 0 {
		namespaces = []string{namespaceOf(obj)}
	}
	var selected []corev1.Service
	for _, svc := range svcs {
		if (sm.Spec.NamespaceSelector.Any || slices.Contains(namespaces, svc.Namespace)) && sel.Matches(labels.Set(svc.Labels)) {
			selected = append(selected, svc)
		}
	}
	if len(selected) == 0 {
		return []error{problemf(obj, "spec.selector %q selects no Service in namespaces %v", sel, namespaces)}
	}
	var errs []error
	for i, ep := range sm.Spec.Endpoints {
		if ep.Port != "" && !slices.ContainsFunc(selected, func(svc corev1.Service) bool { return hasPortName(svc, ep.Port) }) {
			errs = append(errs, problemf(obj, "spec.endpoints[%d].port %q is not a port name of any Service it selects", i, ep.Port))
		}
	}
	return errs
}

func hasPortName(svc corev1.Service, name string) bool {
	return slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == name })
}
