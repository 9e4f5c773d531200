package components

import (
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// podSecurityContext takes the pod-scope fields of the chart's single securityContext map.
func podSecurityContext(sc config.SecurityContext) *corev1.PodSecurityContextArgs {
	args := &corev1.PodSecurityContextArgs{
		RunAsNonRoot: pulumi.BoolPtrFromPtr(sc.RunAsNonRoot),
		RunAsUser:    intPtr(sc.RunAsUser),
		RunAsGroup:   intPtr(sc.RunAsGroup),
		FsGroup:      intPtr(sc.FSGroup),
	}
	if len(sc.SupplementalGroups) > 0 {
		groups := pulumi.IntArray{}
		for _, g := range sc.SupplementalGroups {
			groups = append(groups, pulumi.Int(int(g)))
		}
		args.SupplementalGroups = groups
	}
	if sc.SeccompProfile != nil {
		args.SeccompProfile = &corev1.SeccompProfileArgs{
			Type:             pulumi.String(sc.SeccompProfile.Type),
			LocalhostProfile: optString(sc.SeccompProfile.LocalhostProfile),
		}
	}
	return args
}

// containerSecurityContext takes the container-scope fields: at pod scope Kubernetes would
// silently drop them (the chart's Bundle 3 D3 bug).
func containerSecurityContext(sc config.SecurityContext) *corev1.SecurityContextArgs {
	args := &corev1.SecurityContextArgs{
		ReadOnlyRootFilesystem:   pulumi.BoolPtrFromPtr(sc.ReadOnlyRootFilesystem),
		AllowPrivilegeEscalation: pulumi.BoolPtrFromPtr(sc.AllowPrivilegeEscalation),
		Privileged:               pulumi.BoolPtrFromPtr(sc.Privileged),
	}
	if sc.Capabilities != nil {
		args.Capabilities = &corev1.CapabilitiesArgs{
			Add:  optStrings(sc.Capabilities.Add),
			Drop: optStrings(sc.Capabilities.Drop),
		}
	}
	return args
}
