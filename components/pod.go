package components

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	batchv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/batch/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8scorev1 "k8s.io/api/core/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

// httpsProbe checks a certctl endpoint over TLS on the named port; /health and /ready bypass auth.
func httpsProbe(path string, t config.ProbeTiming) *corev1.ProbeArgs {
	p := probeTiming(t)
	p.HttpGet = &corev1.HTTPGetActionArgs{Path: pulumi.String(path), Port: pulumi.String(portNameHTTPS), Scheme: pulumi.String("HTTPS")}
	return p
}

func execProbe(command []string, t config.ProbeTiming) *corev1.ProbeArgs {
	p := probeTiming(t)
	p.Exec = &corev1.ExecActionArgs{Command: pulumi.ToStringArray(command)}
	return p
}

func probeTiming(t config.ProbeTiming) *corev1.ProbeArgs {
	return &corev1.ProbeArgs{
		InitialDelaySeconds: pulumi.Int(int(t.InitialDelaySeconds)),
		PeriodSeconds:       pulumi.Int(int(t.PeriodSeconds)),
		TimeoutSeconds:      pulumi.Int(int(t.TimeoutSeconds)),
		FailureThreshold:    pulumi.Int(int(t.FailureThreshold)),
	}
}

// workloadContainer runs the section's image with its resources and container-scope security
// context; the component adds the rest.
func workloadContainer(name string, w config.Workload) corev1.ContainerArgs {
	return corev1.ContainerArgs{
		Name:            pulumi.String(name),
		Image:           pulumi.String(w.Image.Ref()),
		ImagePullPolicy: pulumi.String(w.Image.PullPolicy),
		Resources:       resourceRequirements(w.Resources),
		SecurityContext: containerSecurityContext(w.SecurityContext),
	}
}

// jobSpec runs spec once to completion: no restarts in place (the Job retries with a new pod up to
// backoffLimit times), no API token, and the component's labels on its pods.
func jobSpec(r Release, component string, backoffLimit int32, deadlineSeconds int64, podAnnotations map[string]string, spec *corev1.PodSpecArgs) *batchv1.JobSpecArgs {
	spec.RestartPolicy = pulumi.String("Never")
	spec.AutomountServiceAccountToken = pulumi.Bool(false)
	return &batchv1.JobSpecArgs{
		BackoffLimit:          pulumi.Int(int(backoffLimit)),
		ActiveDeadlineSeconds: pulumi.Int(int(deadlineSeconds)),
		Template: &corev1.PodTemplateSpecArgs{
			Metadata: &metav1.ObjectMetaArgs{
				Labels:      pulumi.ToStringMap(r.labels(component)),
				Annotations: optStringMap(podAnnotations),
			},
			Spec: spec,
		},
	}
}

// workloadPodSpec places the section's pods and sets their pod-scope security context; the
// component adds the containers and volumes.
func workloadPodSpec(r Release, w config.Workload) corev1.PodSpecArgs {
	return corev1.PodSpecArgs{
		SecurityContext:           podSecurityContext(w.SecurityContext),
		ImagePullSecrets:          r.imagePullSecrets(),
		NodeSelector:              optStringMap(w.NodeSelector),
		Tolerations:               tolerationsInput(w.Tolerations),
		Affinity:                  affinityInput(w.Affinity),
		TopologySpreadConstraints: topologySpreadInput(w.TopologySpreadConstraints),
	}
}

func resourceRequirements(r config.Resources) *corev1.ResourceRequirementsArgs {
	return &corev1.ResourceRequirementsArgs{
		Requests: pulumi.ToStringMap(r.Requests),
		Limits:   pulumi.ToStringMap(r.Limits),
	}
}

func emptyDirVolume(name, sizeLimit string) corev1.VolumeArgs {
	v := corev1.VolumeArgs{Name: pulumi.String(name), EmptyDir: &corev1.EmptyDirVolumeSourceArgs{}}
	if sizeLimit != "" {
		v.EmptyDir = &corev1.EmptyDirVolumeSourceArgs{SizeLimit: pulumi.String(sizeLimit)}
	}
	return v
}

// secretVolume mounts a Secret with owner-only file mode; fsGroup grants the group read. With
// keys, only those keys are mounted (a missing one stops the pod from starting).
func secretVolume(name, secretName string, keys ...string) corev1.VolumeArgs {
	src := &corev1.SecretVolumeSourceArgs{SecretName: pulumi.String(secretName), DefaultMode: pulumi.Int(0o400)}
	if len(keys) > 0 {
		var items corev1.KeyToPathArray
		for _, k := range keys {
			items = append(items, corev1.KeyToPathArgs{Key: pulumi.String(k), Path: pulumi.String(k)})
		}
		src.Items = items
	}
	return corev1.VolumeArgs{Name: pulumi.String(name), Secret: src}
}

// ownVolume is one of a container's own volumes and where it is mounted. Like envEntry, an
// entry the configuration turns off stays listed, so the program keeps its name and path.
type ownVolume struct {
	volume   corev1.VolumeArgs
	path     string
	readOnly bool
	off      bool
}

func (v ownVolume) name() string { return string(v.volume.Name.(pulumi.String)) }

// podVolumes are the volumes and mounts the pod gets.
func podVolumes(own []ownVolume) ([]corev1.VolumeArgs, []corev1.VolumeMountArgs) {
	var volumes []corev1.VolumeArgs
	var mounts []corev1.VolumeMountArgs
	for _, v := range own {
		if v.off {
			continue
		}
		volumes = append(volumes, v.volume)
		if v.readOnly {
			mounts = append(mounts, readOnlyMount(v.name(), v.path))
		} else {
			mounts = append(mounts, mount(v.name(), v.path))
		}
	}
	return volumes, mounts
}

func mount(name, path string) corev1.VolumeMountArgs {
	return corev1.VolumeMountArgs{Name: pulumi.String(name), MountPath: pulumi.String(path)}
}

func readOnlyMount(name, path string) corev1.VolumeMountArgs {
	m := mount(name, path)
	m.ReadOnly = pulumi.Bool(true)
	return m
}

// fromAPI converts a k8s.io/api value (how users write extra volumes, affinity, tolerations)
// into the SDK's plain type of the same shape: both follow the API's field names. Validation
// has already decoded the value strictly, so a failure here is a programming error.
func fromAPI[T any](v any) T {
	var out T
	b, err := json.Marshal(v)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		panic(fmt.Sprintf("converting %T to %T: %v", v, out, err))
	}
	return out
}

// userInputs converts the user's k8s.io/api entries into SDK outputs of plain type P (O is P's
// registered output type), ready to append to the program's own typed args.
func userInputs[P any, O pulumi.Output, K any](entries []K) []O {
	var out []O
	for _, e := range entries {
		out = append(out, plainOutput[P, O](fromAPI[P](e)))
	}
	return out
}

// plainOutput wraps a plain SDK value as its typed output. It goes through ApplyT rather than
// pulumi.ToOutput, whose deep copy turns unset (nil) lists into empty ones: `items: []` in
// every manifest and diff where the user wrote nothing.
func plainOutput[P any, O pulumi.Output](v P) O {
	return pulumi.Int(0).ToIntOutput().ApplyT(func(int) P { return v }).(O)
}

// joined lists the program's own entries, then the user's, as one typed input list (I is the
// element input interface both kinds implement).
func joined[I any, A any, O any](own []A, user []O) []I {
	out := make([]I, 0, len(own)+len(user))
	for _, v := range own {
		out = append(out, any(v).(I))
	}
	for _, o := range user {
		out = append(out, any(o).(I))
	}
	return out
}

func volumesInput(extra []k8scorev1.Volume, own ...corev1.VolumeArgs) corev1.VolumeArray {
	return joined[corev1.VolumeInput](own, userInputs[corev1.Volume, corev1.VolumeOutput](extra))
}

func volumeMountsInput(extra []k8scorev1.VolumeMount, own ...corev1.VolumeMountArgs) corev1.VolumeMountArray {
	return joined[corev1.VolumeMountInput](own, userInputs[corev1.VolumeMount, corev1.VolumeMountOutput](extra))
}

func affinityInput(affinity *k8scorev1.Affinity) corev1.AffinityPtrInput {
	if affinity == nil || (affinity.NodeAffinity == nil && affinity.PodAffinity == nil && affinity.PodAntiAffinity == nil) {
		return nil
	}
	return plainOutput[corev1.Affinity, corev1.AffinityOutput](fromAPI[corev1.Affinity](affinity)).ToAffinityPtrOutput()
}

func tolerationsInput(t []k8scorev1.Toleration) corev1.TolerationArrayInput {
	if len(t) == 0 {
		return nil
	}
	return plainOutput[[]corev1.Toleration, corev1.TolerationArrayOutput](fromAPI[[]corev1.Toleration](t))
}

func topologySpreadInput(c []k8scorev1.TopologySpreadConstraint) corev1.TopologySpreadConstraintArrayInput {
	if len(c) == 0 {
		return nil
	}
	return plainOutput[[]corev1.TopologySpreadConstraint, corev1.TopologySpreadConstraintArrayOutput](fromAPI[[]corev1.TopologySpreadConstraint](c))
}

// extraEnv appends the user's env map (sorted, for a stable pod spec) and full EnvVar entries.
func extraEnv(env map[string]string, full []k8scorev1.EnvVar) corev1.EnvVarArray {
	var arr corev1.EnvVarArray
	for _, k := range slices.Sorted(maps.Keys(env)) {
		arr = append(arr, corev1.EnvVarArgs{Name: pulumi.String(k), Value: pulumi.String(env[k])})
	}
	for _, e := range userInputs[corev1.EnvVar, corev1.EnvVarOutput](full) {
		arr = append(arr, e)
	}
	return arr
}
