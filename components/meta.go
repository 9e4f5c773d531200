// Package components holds the certctl ComponentResources. Each builds its Kubernetes objects
// through small pure functions from config to typed pulumi-kubernetes args.
package components

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

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

// selectorLabels is the immutable subset: a Deployment or StatefulSet selector can never change,
// so it must not include anything that moves with an upgrade (version) or user taste (common labels).
func selectorLabels(cfg *config.Config, component string) map[string]string {
	l := map[string]string{labelName: cfg.AppName(), labelInstance: cfg.ReleaseName}
	if component != "" {
		l[labelComponent] = component
	}
	return l
}

// labels is the full set every object carries: common labels first so ours win.
func labels(cfg *config.Config, component string) map[string]string {
	l := maps.Clone(cfg.CommonLabels)
	if l == nil {
		l = map[string]string{}
	}
	maps.Copy(l, selectorLabels(cfg, component))
	l[labelVersion] = config.AppVersion
	l[labelManagedBy] = "pulumi"
	l[labelPartOf] = "certctl"
	return l
}

// objectMeta is the metadata of a namespaced object; extra annotations override common ones.
func objectMeta(cfg *config.Config, ns pulumi.StringInput, name, component string, extra map[string]string) *metav1.ObjectMetaArgs {
	m := clusterMeta(cfg, name, component, extra)
	m.Namespace = ns
	return m
}

// clusterMeta is the metadata of a cluster-scoped object.
func clusterMeta(cfg *config.Config, name, component string, extra map[string]string) *metav1.ObjectMetaArgs {
	m := &metav1.ObjectMetaArgs{
		Name:   pulumi.String(name),
		Labels: pulumi.ToStringMap(labels(cfg, component)),
	}
	if ann := mergeMaps(cfg.CommonAnnotations, extra); len(ann) > 0 {
		m.Annotations = pulumi.ToStringMap(ann)
	}
	return m
}

func mergeMaps(base, over map[string]string) map[string]string {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, over)
	return out
}

// checksum digests a map in key order, for pod annotations that roll pods when config changes.
func checksum(data map[string]string) string {
	h := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(data)) {
		h.Write([]byte(k))
		h.Write([]byte{0})
		h.Write([]byte(data[k]))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

// secretChecksum digests secret values; the result stays a secret because it derives from them.
func secretChecksum(data pulumi.StringMap) pulumi.StringOutput {
	return data.ToStringMapOutput().ApplyT(checksum).(pulumi.StringOutput)
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
