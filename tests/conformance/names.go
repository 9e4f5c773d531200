package conformance

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// clusterScoped lists the kinds this package knows that have no namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

// CheckNames validates the names the API server or the controllers would reject: metadata.name
// (per kind), metadata.namespace, label and annotation keys and values, and for a pod template
// its labels, container, port, env var and volume names, and that every volume mount names a
// volume of the pod. For a Service, its port names; for a Secret or ConfigMap, its keys.
func CheckNames(obj Object) []error {
	meta, err := decodeAs[metav1.ObjectMeta](obj["metadata"])
	if err != nil {
		return []error{problemf(obj, "metadata does not decode: %v", err)}
	}
	errs := objectMetaProblems(kindOf(obj), meta)
	if w, ok := podTemplate(obj); ok {
		errs = append(errs, podNameProblems(w)...)
	}
	switch gvk(obj) {
	case "v1/Service":
		if svc, err := decodeAs[corev1.Service](obj); err == nil {
			errs = append(errs, servicePortNameProblems(svc.Spec.Ports)...)
		}
	case "v1/Secret", "v1/ConfigMap":
		errs = append(errs, dataKeyProblems(obj)...)
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = problemf(obj, "%v", e)
	}
	return out
}

func objectMetaProblems(kind string, meta metav1.ObjectMeta) field.ErrorList {
	fld := field.NewPath("metadata")
	var errs field.ErrorList
	if meta.Name == "" {
		errs = append(errs, field.Required(fld.Child("name"), "the program must name every object"))
	}
	for _, msg := range nameProblems(kind, meta.Name) {
		errs = append(errs, field.Invalid(fld.Child("name"), meta.Name, msg))
	}
	switch {
	case meta.Namespace != "" && clusterScoped[kind]:
		// The API server silently clears it, so whatever the program meant by it is lost.
		errs = append(errs, field.Forbidden(fld.Child("namespace"), kind+" is cluster-scoped"))
	case meta.Namespace != "":
		for _, msg := range validation.IsDNS1123Label(meta.Namespace) {
			errs = append(errs, field.Invalid(fld.Child("namespace"), meta.Namespace, msg))
		}
	}
	errs = append(errs, metav1validation.ValidateLabels(meta.Labels, fld.Child("labels"))...)
	errs = append(errs, apivalidation.ValidateAnnotations(meta.Annotations, fld.Child("annotations"))...)
	return errs
}

// nameProblems applies the metadata.name rule of kind; an empty name is reported separately.
func nameProblems(kind, name string) []string {
	if name == "" {
		return nil
	}
	switch kind {
	case "Service":
		// Service names become DNS labels (<name>.<namespace>.svc) and must start with a letter.
		return validation.IsDNS1035Label(name)
	case "Namespace":
		return validation.IsDNS1123Label(name)
	case "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
		// RBAC names only need to be path segments, so "system:metrics-reader" is valid.
		return path.IsValidPathSegmentName(name)
	case "StatefulSet":
		// Every pod gets the label controller-revision-hash=<name>-<10-character hash>; a label
		// value is at most 63 characters, so a longer name leaves the controller unable to
		// create pods although the API server accepts the StatefulSet.
		return append(validation.IsDNS1123Subdomain(name), maxLen(name, 52)...)
	case "CronJob":
		// Each Job is named <name>-<scheduled time in minutes, up to 11 characters> and a Job's
		// name must fit in a 63-character label; the API server enforces 52.
		return append(validation.IsDNS1123Subdomain(name), maxLen(name, 52)...)
	case "Job":
		// The Job's name becomes the batch.kubernetes.io/job-name label of its pods.
		return append(validation.IsDNS1123Subdomain(name), maxLen(name, validation.LabelValueMaxLength)...)
	default:
		return validation.IsDNS1123Subdomain(name)
	}
}

func maxLen(name string, n int) []string {
	if len(name) > n {
		return []string{fmt.Sprintf("must be no more than %d characters (is %d)", n, len(name))}
	}
	return nil
}

// podNameProblems validates the names inside w's pod template.
func podNameProblems(w workload) field.ErrorList {
	p := templatePaths[gvk(w.obj)]
	fld := field.NewPath(p[0], p[1:]...)
	spec := &w.template.Spec
	errs := metav1validation.ValidateLabels(w.template.Labels, fld.Child("metadata", "labels"))
	errs = append(errs, apivalidation.ValidateAnnotations(w.template.Annotations, fld.Child("metadata", "annotations"))...)
	errs = append(errs, volumeNameProblems(spec.Volumes, fld.Child("spec", "volumes"))...)
	groups := []struct {
		field string
		list  []corev1.Container
	}{{"initContainers", spec.InitContainers}, {"containers", spec.Containers}}
	seen := map[string]bool{} // container names are unique across both groups
	for _, g := range groups {
		for i, c := range g.list {
			cfld := fld.Child("spec", g.field).Index(i)
			for _, msg := range validation.IsDNS1123Label(c.Name) {
				errs = append(errs, field.Invalid(cfld.Child("name"), c.Name, msg))
			}
			if seen[c.Name] {
				errs = append(errs, field.Duplicate(cfld.Child("name"), c.Name))
			}
			seen[c.Name] = true
			errs = append(errs, containerNameProblems(w, c, cfld)...)
		}
	}
	return errs
}

func volumeNameProblems(volumes []corev1.Volume, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, v := range volumes {
		for _, msg := range validation.IsDNS1123Label(v.Name) {
			errs = append(errs, field.Invalid(fld.Index(i).Child("name"), v.Name, msg))
		}
		if seen[v.Name] {
			errs = append(errs, field.Duplicate(fld.Index(i).Child("name"), v.Name))
		}
		seen[v.Name] = true
	}
	return errs
}

// containerNameProblems validates port and env var names and that mounts name pod volumes.
func containerNameProblems(w workload, c corev1.Container, fld *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, p := range c.Ports {
		if p.Name == "" {
			continue
		}
		for _, msg := range validation.IsValidPortName(p.Name) {
			errs = append(errs, field.Invalid(fld.Child("ports").Index(i).Child("name"), p.Name, msg))
		}
	}
	for i, e := range c.Env {
		for _, msg := range validation.IsEnvVarName(e.Name) {
			errs = append(errs, field.Invalid(fld.Child("env").Index(i).Child("name"), e.Name, msg))
		}
	}
	for i, m := range c.VolumeMounts {
		if !w.hasVolume(m.Name) {
			errs = append(errs, field.NotFound(fld.Child("volumeMounts").Index(i).Child("name"), m.Name))
		}
	}
	for i, d := range c.VolumeDevices {
		if !w.hasVolume(d.Name) {
			errs = append(errs, field.NotFound(fld.Child("volumeDevices").Index(i).Child("name"), d.Name))
		}
	}
	return errs
}

// dataKeyProblems validates Secret and ConfigMap keys, which become file names when mounted.
func dataKeyProblems(obj Object) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []string{"data", "stringData", "binaryData"} {
		for _, key := range sortedKeys(stringKeys(obj[f])) {
			for _, msg := range validation.IsConfigMapKey(key) {
				errs = append(errs, field.Invalid(field.NewPath(f), key, msg))
			}
		}
	}
	return errs
}

// servicePortNameProblems applies the API server's rules: names are DNS labels, required and
// unique once a Service has more than one port.
func servicePortNameProblems(ports []corev1.ServicePort) field.ErrorList {
	fld := field.NewPath("spec", "ports")
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, p := range ports {
		pfld := fld.Index(i).Child("name")
		switch {
		case p.Name == "" && len(ports) > 1:
			errs = append(errs, field.Required(pfld, "required when a Service has more than one port"))
		case p.Name != "":
			for _, msg := range validation.IsDNS1123Label(p.Name) {
				errs = append(errs, field.Invalid(pfld, p.Name, msg))
			}
		}
		if p.Name != "" && seen[p.Name] {
			errs = append(errs, field.Duplicate(pfld, p.Name))
		}
		seen[p.Name] = true
	}
	return errs
}
