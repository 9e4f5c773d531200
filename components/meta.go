// Package components holds the certctl ComponentResources. Each builds its Kubernetes objects
// through small pure functions from config to typed pulumi-kubernetes args.
package components

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"maps"
	"slices"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

// Component label values (app.kubernetes.io/component).
const (
	componentServer   = "server"
	componentPostgres = "postgres"
	componentAgent    = "agent"
)

// Label keys of the recommended set.
const (
	labelName      = "app.kubernetes.io/name"
	labelInstance  = "app.kubernetes.io/instance"
	labelComponent = "app.kubernetes.io/component"
	labelVersion   = "app.kubernetes.io/version"
	labelManagedBy = "app.kubernetes.io/managed-by"
	labelPartOf    = "app.kubernetes.io/part-of"
)

// Release is what every object's metadata derives from: the release's naming and labelling
// settings and its namespace. Certctl builds it once and hands it to every component.
type Release struct {
	AppName  string // app.kubernetes.io/name
	Instance string // app.kubernetes.io/instance: the release name
	// CommonLabels and CommonAnnotations go on every object; the program's own labels win.
	CommonLabels      map[string]string
	CommonAnnotations map[string]string
	PullSecrets       []k8scorev1.LocalObjectReference
	// Namespace orders every namespaced object after the Namespace when the program owns it.
	Namespace pulumi.StringInput
}

func newRelease(cfg *config.Config, ns pulumi.StringInput) Release {
	return Release{
		AppName: cfg.AppName(), Instance: cfg.ReleaseName,
		CommonLabels: cfg.CommonLabels, CommonAnnotations: cfg.CommonAnnotations,
		PullSecrets: cfg.ImagePullSecrets, Namespace: ns,
	}
}

// selectorLabels is the immutable subset: a Deployment or StatefulSet selector can never change,
// so it must not include anything that moves with an upgrade (version) or user taste (common labels).
func (r Release) selectorLabels(component string) map[string]string {
	l := map[string]string{labelName: r.AppName, labelInstance: r.Instance}
	if component != "" {
		l[labelComponent] = component
	}
	return l
}

// labels is the full set every object carries: common labels first so ours win.
func (r Release) labels(component string) map[string]string {
	l := maps.Clone(r.CommonLabels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, r.selectorLabels(component))
	l[labelVersion] = config.AppVersion
	l[labelManagedBy] = "pulumi"
	l[labelPartOf] = "certctl"
	return l
}

// objectMeta is the metadata of a namespaced object; extra annotations override common ones.
func (r Release) objectMeta(name, component string, extra map[string]string) *metav1.ObjectMetaArgs {
	m := r.clusterMeta(name, component, extra)
	m.Namespace = r.Namespace
	return m
}

// clusterMeta is the metadata of a cluster-scoped object.
func (r Release) clusterMeta(name, component string, extra map[string]string) *metav1.ObjectMetaArgs {
	m := &metav1.ObjectMetaArgs{
		Name:   pulumi.String(name),
		Labels: pulumi.ToStringMap(r.labels(component)),
	}
	if ann := mergeMaps(r.CommonAnnotations, extra); len(ann) > 0 {
		m.Annotations = pulumi.ToStringMap(ann)
	}
	return m
}

// selector selects a component's pods.
func (r Release) selector(component string) *metav1.LabelSelectorArgs {
	return labelSelector(r.selectorLabels(component))
}

// labelSelector matches exactly these labels.
func labelSelector(labels map[string]string) *metav1.LabelSelectorArgs {
	return &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(labels)}
}

func (r Release) imagePullSecrets() corev1.LocalObjectReferenceArray {
	var refs corev1.LocalObjectReferenceArray
	for _, s := range r.PullSecrets {
		refs = append(refs, corev1.LocalObjectReferenceArgs{Name: pulumi.String(s.Name)})
	}
	return refs
}

func mergeMaps(base, over map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

// podAnnotations are a workload's pod annotations: the user's, plus checksum/config of the
// settings its pods read and checksum/secret of the secret values they read, so a change to
// either rolls the pods.
func podAnnotations(user, settings map[string]string, secrets pulumi.StringMap, checksumKey pulumi.StringOutput) pulumi.StringMap {
	annotations := pulumi.ToStringMap(user)
	annotations["checksum/config"] = pulumi.String(checksum(settings))
	annotations["checksum/secret"] = secretChecksum(secrets, checksumKey)
	return annotations
}

// checksum digests a map in key order, for pod annotations that roll pods when config changes.
func checksum(data map[string]string) string {
	return hex.EncodeToString(digest(sha256.New(), data))
}

// secretChecksum digests secret values for the same purpose, keyed with a generated key that
// never leaves the stack's state: without it the digest cannot be tested against guesses of a
// weak password, so it reveals nothing and stays out of the secrets (no "secret in a plain
// field" in diffs and state).
func secretChecksum(data pulumi.StringMap, key pulumi.StringOutput) pulumi.StringOutput {
	sum := pulumi.All(data.ToStringMapOutput(), key).ApplyT(func(v []any) string {
		return hex.EncodeToString(digest(hmac.New(sha256.New, []byte(v[1].(string))), v[0].(map[string]string)))
	}).(pulumi.StringOutput)
	return pulumi.Unsecret(sum).(pulumi.StringOutput)
}

// digest writes the map into h in key order, each key and value ended by a NUL.
func digest(h hash.Hash, data map[string]string) []byte {
	for _, k := range slices.Sorted(maps.Keys(data)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(data[k]))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// Optional values: unset config stays out of the manifest instead of rendering "" or {}.

func intPtr(v *int64) pulumi.IntPtrInput {
	if v == nil {
		return nil
	}
	return pulumi.IntPtr(int(*v))
}

func optString(s string) pulumi.StringPtrInput {
	if s == "" {
		return nil
	}
	return pulumi.StringPtr(s)
}

func optStrings(s []string) pulumi.StringArrayInput {
	if len(s) == 0 {
		return nil
	}
	return pulumi.ToStringArray(s)
}

// optStringMap leaves an unset map out of the manifest instead of rendering "{}".
func optStringMap(m map[string]string) pulumi.StringMapInput {
	if len(m) == 0 {
		return nil
	}
	return pulumi.ToStringMap(m)
}

// waitFor makes the provider wait up to d for the object to be ready when it creates or
// updates it (its own default is 10 minutes).
func waitFor(d time.Duration) pulumi.ResourceOption {
	return pulumi.Timeouts(&pulumi.CustomTimeouts{Create: d.String(), Update: d.String()})
}
