package conformance

import (
	corev1 "k8s.io/api/core/v1"
)

// workload is a rendered object that owns a pod template.
type workload struct {
	obj      Object
	template corev1.PodTemplateSpec
	// claimTemplates are a StatefulSet's volumeClaimTemplates names: the controller creates
	// those claims per pod and adds them as volumes of that name, so they count as pod volumes.
	claimTemplates map[string]bool
}

// templatePaths says where each workload kind keeps its pod template.
var templatePaths = map[string][]string{
	"apps/v1/Deployment":  {"spec", "template"},
	"apps/v1/StatefulSet": {"spec", "template"},
	"apps/v1/DaemonSet":   {"spec", "template"},
	"batch/v1/Job":        {"spec", "template"},
	"batch/v1/CronJob":    {"spec", "jobTemplate", "spec", "template"},
}

// podTemplate returns obj's pod template; ok is false for kinds without one and for templates
// that do not decode (StrictDecode reports those).
func podTemplate(obj Object) (w workload, ok bool) {
	path, ok := templatePaths[gvk(obj)]
	if !ok {
		return workload{}, false
	}
	tmpl, err := decodeAs[corev1.PodTemplateSpec](Nested(obj, path...))
	if err != nil {
		return workload{}, false
	}
	claims := map[string]bool{}
	for _, c := range list(Nested(obj, "spec", "volumeClaimTemplates")) {
		claims[str(Nested(c, "metadata", "name"))] = true
	}
	return workload{obj: obj, template: tmpl, claimTemplates: claims}, true
}

// workloads returns the pod template of every workload in objs.
func workloads(objs []Object) []workload {
	var out []workload
	for _, obj := range objs {
		if w, ok := podTemplate(obj); ok {
			out = append(out, w)
		}
	}
	return out
}

// containers returns the init and regular containers of a pod; ephemeral containers never
// appear in templates.
func containers(spec *corev1.PodSpec) []corev1.Container {
	return append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
}

// hasVolume reports whether a pod of w has a volume (or claim template) called name.
func (w workload) hasVolume(name string) bool {
	if w.claimTemplates[name] {
		return true
	}
	for _, v := range w.template.Spec.Volumes {
		if v.Name == name {
			return true
		}
	}
	return false
}
