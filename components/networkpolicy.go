package components

import (
	"net/netip"
	"slices"

	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// serverNetworkPolicyArgs lets agents (and the ingress controller and Prometheus, by namespace)
// reach the server and the server reach DNS and its database; everything else (ACME CAs, SMTP,
// webhooks) is the user's extraEgress, as in the chart.
func serverNetworkPolicyArgs(a *CertctlServerArgs) *networkingv1.NetworkPolicyArgs {
	np := a.NetworkPolicy
	ingress := networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
		From:  networkingv1.NetworkPolicyPeerArray{podPeer(a.Release, componentAgent)},
		Ports: tcpPorts(portNameHTTPS),
	}}
	// Every pod of those namespaces: controllers' and Prometheus' labels differ per install.
	for _, ns := range []string{a.ProxiedFrom, a.ScrapedFrom} {
		if ns != "" {
			ingress = append(ingress, networkingv1.NetworkPolicyIngressRuleArgs{From: namespacePeer(ns), Ports: tcpPorts(portNameHTTPS)})
		}
	}
	for _, r := range userInputs[networkingv1.NetworkPolicyIngressRule, networkingv1.NetworkPolicyIngressRuleOutput](np.ExtraIngress) {
		ingress = append(ingress, r)
	}
	egress := networkingv1.NetworkPolicyEgressRuleArray{dnsEgress()}
	if a.Database.Egress != nil {
		egress = append(egress, *a.Database.Egress)
	}
	for _, r := range userInputs[networkingv1.NetworkPolicyEgressRule, networkingv1.NetworkPolicyEgressRuleOutput](np.ExtraEgress) {
		egress = append(egress, r)
	}
	return &networkingv1.NetworkPolicyArgs{
		Metadata: a.Release.objectMeta(a.Names.Server, componentServer, nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: a.Release.selector(componentServer),
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     ingress,
			Egress:      egress,
		},
	}
}

// bundledDatabaseEgress reaches the bundled Postgres' pod.
func bundledDatabaseEgress(r Release) *networkingv1.NetworkPolicyEgressRuleArgs {
	return &networkingv1.NetworkPolicyEgressRuleArgs{
		To:    networkingv1.NetworkPolicyPeerArray{podPeer(r, componentPostgres)},
		Ports: tcpPorts(portNamePostgres),
	}
}

// postgresNetworkPolicyArgs admits only the server to the bundled database, and lets it talk to
// nobody: Postgres initiates no connections.
func postgresNetworkPolicyArgs(a *BundledPostgresArgs) *networkingv1.NetworkPolicyArgs {
	return &networkingv1.NetworkPolicyArgs{
		Metadata: a.Release.objectMeta(a.Name, componentPostgres, nil),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: a.Release.selector(componentPostgres),
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{networkingv1.NetworkPolicyIngressRuleArgs{
				From:  clientPeers(a.Release, append(slices.Clone(a.Clients), componentPasswordChange)),
				Ports: tcpPorts(portNamePostgres),
			}},
		},
	}
}

// externalDatabaseEgress opens the external database's port: to its address when the URL names an
// IP, to any address when it names a host (a NetworkPolicy cannot match DNS names; narrow it
// with extraEgress and an ipBlock if that is too wide).
func externalDatabaseEgress(ext config.DatabaseEndpoint) *networkingv1.NetworkPolicyEgressRuleArgs {
	rule := &networkingv1.NetworkPolicyEgressRuleArgs{Ports: networkingv1.NetworkPolicyPortArray{networkingv1.NetworkPolicyPortArgs{
		Protocol: pulumi.String("TCP"), Port: pulumi.Int(ext.Port),
	}}}
	if ext.Addr.IsValid() {
		rule.To = networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
			IpBlock: &networkingv1.IPBlockArgs{Cidr: pulumi.String(netip.PrefixFrom(ext.Addr, ext.Addr.BitLen()).String())},
		}}
	}
	return rule
}

// clientPeers admits the pods of each client component.
func clientPeers(r Release, components []string) networkingv1.NetworkPolicyPeerArray {
	var peers networkingv1.NetworkPolicyPeerArray
	for _, c := range components {
		peers = append(peers, podPeer(r, c))
	}
	return peers
}

// namespacePeer is every pod of a namespace.
func namespacePeer(ns string) networkingv1.NetworkPolicyPeerArray {
	return networkingv1.NetworkPolicyPeerArray{networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: labelSelector(map[string]string{"kubernetes.io/metadata.name": ns}),
	}}
}

func podPeer(r Release, component string) networkingv1.NetworkPolicyPeerArgs {
	return networkingv1.NetworkPolicyPeerArgs{PodSelector: r.selector(component)}
}

func tcpPorts(name string) networkingv1.NetworkPolicyPortArray {
	return networkingv1.NetworkPolicyPortArray{networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String("TCP"), Port: pulumi.String(name)}}
}

// dnsEgress allows DNS to any destination: cluster DNS runs under different labels per
// distribution (kube-dns, CoreDNS, node-local caches).
func dnsEgress() networkingv1.NetworkPolicyEgressRuleArgs {
	var ports networkingv1.NetworkPolicyPortArray
	for _, proto := range []string{"UDP", "TCP"} {
		ports = append(ports, networkingv1.NetworkPolicyPortArgs{Protocol: pulumi.String(proto), Port: pulumi.Int(53)})
	}
	return networkingv1.NetworkPolicyEgressRuleArgs{Ports: ports}
}
