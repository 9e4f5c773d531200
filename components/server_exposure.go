package components

import (
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

func serverServiceArgs(a *CertctlServerArgs) *corev1.ServiceArgs {
	s := a.Server
	spec := &corev1.ServiceSpecArgs{
		Type:     pulumi.String(s.Service.Type),
		Selector: pulumi.ToStringMap(a.Release.selectorLabels(componentServer)),
		Ports: corev1.ServicePortArray{corev1.ServicePortArgs{
			Name: pulumi.String(portNameHTTPS), Port: pulumi.Int(s.Service.Port),
			TargetPort: pulumi.String(portNameHTTPS), Protocol: pulumi.String("TCP"),
		}},
	}
	// None is Kubernetes' default: rendered only when a client sticks to one pod.
	if s.Service.SessionAffinity == "ClientIP" {
		spec.SessionAffinity = pulumi.String("ClientIP")
		spec.SessionAffinityConfig = &corev1.SessionAffinityConfigArgs{
			ClientIP: &corev1.ClientIPConfigArgs{TimeoutSeconds: pulumi.Int(int(s.Service.SessionAffinityTimeoutSeconds))},
		}
	}
	return &corev1.ServiceArgs{
		Metadata: a.Release.objectMeta(a.Names.Server, componentServer, s.Service.Annotations),
		Spec:     spec,
	}
}

// certificateArgs builds the cert-manager Certificate. The Service's in-cluster names are always
// added to dnsNames: agents dial https://<fullname>-server:<port> and must be able to verify it.
func certificateArgs(a *CertctlServerArgs) *apiextensions.CustomResourceArgs {
	cm, names, ns := a.Server.TLS.CertManager, a.Names, a.Release.Namespace
	dnsNames := pulumi.StringArray{}
	seen := map[string]bool{}
	add := func(n pulumi.StringInput, key string) {
		if !seen[key] {
			seen[key] = true
			dnsNames = append(dnsNames, n)
		}
	}
	for _, n := range cm.DNSNames {
		add(pulumi.String(n), n)
	}
	add(pulumi.String(names.Server), names.Server)
	add(pulumi.Sprintf("%s.%s.svc", names.Server, ns), "svc")
	add(pulumi.Sprintf("%s.%s.svc.cluster.local", names.Server, ns), "svc.cluster.local")
	issuer := pulumi.Map{"name": pulumi.String(cm.IssuerRef.Name), "kind": pulumi.String(cm.IssuerRef.Kind)}
	if cm.IssuerRef.Group != "" {
		issuer["group"] = pulumi.String(cm.IssuerRef.Group)
	}
	return &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("cert-manager.io/v1"),
		Kind:       pulumi.String("Certificate"),
		// Await issuance: the server mounts the Secret this Certificate writes.
		Metadata: a.Release.objectMeta(names.Certificate, componentServer, map[string]string{"pulumi.com/waitFor": "condition=Ready"}),
		OtherFields: map[string]any{"spec": pulumi.Map{
			"secretName":  pulumi.String(names.TLSSecret),
			"commonName":  pulumi.String(cm.CommonName),
			"dnsNames":    dnsNames,
			"duration":    pulumi.String(cm.Duration),
			"renewBefore": pulumi.String(cm.RenewBefore),
			"issuerRef":   issuer,
			"privateKey": pulumi.Map{
				"algorithm": pulumi.String("ECDSA"), "size": pulumi.Int(256), "rotationPolicy": pulumi.String("Always"),
			},
			"usages": pulumi.ToStringArray([]string{"server auth", "digital signature", "key encipherment"}),
		}},
	}
}

func ingressArgs(a *CertctlServerArgs) *networkingv1.IngressArgs {
	in, names := a.Ingress, a.Names
	annotations := map[string]string{}
	if in.ClassName == "nginx" {
		// The backend speaks HTTPS only; ingress-nginx would otherwise proxy plain HTTP to it.
		annotations["nginx.ingress.kubernetes.io/backend-protocol"] = "HTTPS"
	}
	if in.CertManager.Enabled {
		key := "cert-manager.io/cluster-issuer"
		if in.CertManager.IssuerRef.Kind == "Issuer" {
			key = "cert-manager.io/issuer"
		}
		annotations[key] = in.CertManager.IssuerRef.Name
	}
	var rules networkingv1.IngressRuleArray
	for _, h := range in.Hosts {
		var paths networkingv1.HTTPIngressPathArray
		for _, p := range h.Paths {
			paths = append(paths, networkingv1.HTTPIngressPathArgs{
				Path: pulumi.String(p.Path), PathType: pulumi.String(p.PathType),
				Backend: &networkingv1.IngressBackendArgs{Service: &networkingv1.IngressServiceBackendArgs{
					Name: pulumi.String(names.Server),
					Port: &networkingv1.ServiceBackendPortArgs{Name: pulumi.String(portNameHTTPS)},
				}},
			})
		}
		rules = append(rules, networkingv1.IngressRuleArgs{Host: optString(h.Host), Http: &networkingv1.HTTPIngressRuleValueArgs{Paths: paths}})
	}
	var tls networkingv1.IngressTLSArray
	for _, t := range in.TLS {
		tls = append(tls, networkingv1.IngressTLSArgs{SecretName: optString(t.SecretName), Hosts: optStrings(t.Hosts)})
	}
	return &networkingv1.IngressArgs{
		Metadata: a.Release.objectMeta(names.Fullname, componentServer, mergeMaps(annotations, in.Annotations)),
		Spec: &networkingv1.IngressSpecArgs{
			IngressClassName: optString(in.ClassName),
			Rules:            rules,
			Tls:              tls,
		},
	}
}
