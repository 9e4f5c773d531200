package tests

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPlausibleMistakes: mistakes a user would plausibly make in the values they hand us are
// refused before anything is registered, on the full key path of the wrong value. Each would
// otherwise reach a rendered object (and the API server, the kubelet or certctl would fail).
func TestPlausibleMistakes(t *testing.T) {
	server := func(v map[string]any) map[string]any { return map[string]any{"server": v} }
	toleration := func(t map[string]any) map[string]any {
		return server(map[string]any{"tolerations": []any{t}})
	}
	antiAffinity := func(term map[string]any) map[string]any {
		return server(map[string]any{"affinity": map[string]any{"podAntiAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": []any{term},
		}}})
	}
	nodeAffinity := func(expr map[string]any) map[string]any {
		return map[string]any{"agent": map[string]any{"affinity": map[string]any{"nodeAffinity": map[string]any{
			"requiredDuringSchedulingIgnoredDuringExecution": map[string]any{"nodeSelectorTerms": []any{
				map[string]any{"matchExpressions": []any{expr}},
			}},
		}}}}
	}
	extraEnv := func(e map[string]any) map[string]any { return server(map[string]any{"extraEnv": []any{e}}) }
	volume := func(v map[string]any) map[string]any {
		v["name"] = "extra"
		return server(map[string]any{"volumes": []any{v}})
	}
	egress := func(rule map[string]any) map[string]any {
		return map[string]any{"networkPolicy": map[string]any{"enabled": true, "extraEgress": []any{rule}}}
	}
	image := func(section string, img map[string]any) map[string]any {
		return map[string]any{section: map[string]any{"image": img}}
	}
	memory := func(section, q string) map[string]any {
		return map[string]any{section: map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": q}}}}
	}
	cases := []struct {
		name   string
		config map[string]any
		secret []string
		key    string
	}{
		{"toleration operator in lower case", toleration(map[string]any{"key": "dedicated", "operator": "exists"}), nil, "server.tolerations[0].operator"},
		{"toleration effect misspelled", toleration(map[string]any{"key": "dedicated", "operator": "Equal", "value": "pki", "effect": "NoScheduled"}), nil, "server.tolerations[0].effect"},
		{"toleration Exists with a value", toleration(map[string]any{"key": "dedicated", "operator": "Exists", "value": "pki"}), nil, "server.tolerations[0].value"},
		{"toleration seconds without NoExecute", toleration(map[string]any{"key": "k", "operator": "Exists", "effect": "NoSchedule", "tolerationSeconds": 30}), nil, "server.tolerations[0].tolerationSeconds"},
		{"anti-affinity without topologyKey", antiAffinity(map[string]any{"labelSelector": map[string]any{"matchLabels": map[string]any{"app": "certctl"}}}), nil,
			"server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey"},
		{"anti-affinity selector operator Equals", antiAffinity(map[string]any{"topologyKey": "kubernetes.io/hostname", "labelSelector": map[string]any{
			"matchExpressions": []any{map[string]any{"key": "app", "operator": "Equals", "values": []any{"certctl"}}},
		}}), nil, "server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].operator"},
		{"anti-affinity Exists with values", antiAffinity(map[string]any{"topologyKey": "kubernetes.io/hostname", "labelSelector": map[string]any{
			"matchExpressions": []any{map[string]any{"key": "app", "operator": "Exists", "values": []any{"certctl"}}},
		}}), nil, "server.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values"},
		{"preferred anti-affinity weight 0", server(map[string]any{"affinity": map[string]any{"podAntiAffinity": map[string]any{
			"preferredDuringSchedulingIgnoredDuringExecution": []any{map[string]any{"weight": 0, "podAffinityTerm": map[string]any{"topologyKey": "kubernetes.io/hostname"}}},
		}}}), nil, "server.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight"},
		{"node affinity operator in lower case", nodeAffinity(map[string]any{"key": "pool", "operator": "in", "values": []any{"pki"}}), nil,
			"agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator"},
		{"node affinity Gt with two values", nodeAffinity(map[string]any{"key": "cores", "operator": "Gt", "values": []any{"2", "4"}}), nil,
			"agent.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values"},
		{"secretKeyRef without key", extraEnv(map[string]any{"name": "OIDC_SECRET", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "oidc"}}}), nil,
			"server.extraEnv[0].valueFrom.secretKeyRef.key"},
		{"configMapKeyRef to an impossible name", extraEnv(map[string]any{"name": "BUNDLE", "valueFrom": map[string]any{"configMapKeyRef": map[string]any{"name": "Trust_Bundle", "key": "ca.crt"}}}), nil,
			"server.extraEnv[0].valueFrom.configMapKeyRef.name"},
		{"fieldRef to a field the downward API lacks", extraEnv(map[string]any{"name": "NODE", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "spec.node"}}}), nil,
			"server.extraEnv[0].valueFrom.fieldRef.fieldPath"},
		{"env with value and valueFrom", extraEnv(map[string]any{"name": "A", "value": "x", "valueFrom": map[string]any{"fieldRef": map[string]any{"fieldPath": "metadata.name"}}}), nil,
			"server.extraEnv[0].valueFrom"},
		{"env name starting with a digit", extraEnv(map[string]any{"name": "1PASSWORD", "value": "x"}), nil, "server.extraEnv[0].name"},
		{"env overrides the database URL", server(map[string]any{"env": map[string]any{"CERTCTL_DATABASE_URL": "postgres://x"}}), nil, "server.env.CERTCTL_DATABASE_URL"},
		{"agent env sets the agent ID", map[string]any{"agent": map[string]any{"env": map[string]any{"CERTCTL_AGENT_ID": "a1"}}}, nil, "agent.env.CERTCTL_AGENT_ID"},
		{"hostPath volume", volume(map[string]any{"hostPath": map[string]any{"path": "/etc/ssl"}}), nil, "server.volumes[0]"},
		{"secret volume without a name", volume(map[string]any{"secret": map[string]any{}}), nil, "server.volumes[0].secret.secretName"},
		{"configMap volume with an impossible name", volume(map[string]any{"configMap": map[string]any{"name": "Trust Bundle"}}), nil, "server.volumes[0].configMap.name"},
		{"volume with two sources", volume(map[string]any{"emptyDir": map[string]any{}, "secret": map[string]any{"secretName": "x"}}), nil, "server.volumes[0]"},
		{"volume named like the program's", server(map[string]any{"volumes": []any{map[string]any{"name": "tls", "emptyDir": map[string]any{}}}}), nil, "server.volumes[0].name"},
		{"mount over the program's /tmp", server(map[string]any{
			"volumes":      []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}},
			"volumeMounts": []any{map[string]any{"name": "scratch", "mountPath": "/tmp"}},
		}), nil, "server.volumeMounts[0].mountPath"},
		{"relative mount path", server(map[string]any{
			"volumes":      []any{map[string]any{"name": "scratch", "emptyDir": map[string]any{}}},
			"volumeMounts": []any{map[string]any{"name": "scratch", "mountPath": "etc/ssl/corp"}},
		}), nil, "server.volumeMounts[0].mountPath"},
		{"mount of a volume that does not exist", server(map[string]any{"volumeMounts": []any{map[string]any{"name": "corp-ca", "mountPath": "/etc/ssl/corp"}}}), nil, "server.volumeMounts[0].name"},
		{"egress CIDR with a /33", egress(map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/33"}}}}), nil, "networkPolicy.extraEgress[0].to[0].ipBlock.cidr"},
		{"egress except outside the block", egress(map[string]any{"to": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8", "except": []any{"192.168.0.0/16"}}}}}), nil,
			"networkPolicy.extraEgress[0].to[0].ipBlock.except[0]"},
		{"egress protocol in lower case", egress(map[string]any{"ports": []any{map[string]any{"protocol": "tcp", "port": 443}}}), nil, "networkPolicy.extraEgress[0].ports[0].protocol"},
		{"egress port out of range", egress(map[string]any{"ports": []any{map[string]any{"protocol": "TCP", "port": 70000}}}), nil, "networkPolicy.extraEgress[0].ports[0].port"},
		{"egress endPort below port", egress(map[string]any{"ports": []any{map[string]any{"protocol": "TCP", "port": 8000, "endPort": 7000}}}), nil, "networkPolicy.extraEgress[0].ports[0].endPort"},
		{"ingress from a selector with a bad operator", map[string]any{"networkPolicy": map[string]any{"enabled": true, "extraIngress": []any{map[string]any{
			"from": []any{map[string]any{"namespaceSelector": map[string]any{"matchExpressions": []any{map[string]any{"key": "team", "operator": "Is", "values": []any{"obs"}}}}}},
		}}}}, nil, "networkPolicy.extraIngress[0].from[0].namespaceSelector.matchExpressions[0].operator"},
		{"image with a scheme", image("server", map[string]any{"repository": "https://ghcr.io/certctl-io/certctl-server"}), nil, "server.image.repository"},
		{"image with capitals", image("agent", map[string]any{"repository": "ghcr.io/CertCtl-IO/certctl-agent"}), nil, "agent.image.repository"},
		{"image tag inside the repository", image("postgresql", map[string]any{"repository": "postgres:16-alpine"}), nil, "postgresql.image.repository"},
		{"image tag with a colon", image("server", map[string]any{"tag": "v2.1.7:latest"}), nil, "server.image.tag"},
		{"image digest too short", image("server", map[string]any{"digest": "sha256:abc123"}), nil, "server.image.digest"},
		{"memory in millibytes", memory("server", "512m"), nil, "server.resources.limits.memory"},
		{"memory in bytes below 1Mi", memory("agent", "65536"), nil, "agent.resources.limits.memory"},
		{"request above limit", map[string]any{"server": map[string]any{"resources": map[string]any{"requests": map[string]any{"cpu": "2"}, "limits": map[string]any{"cpu": "1"}}}}, nil,
			"server.resources.requests.cpu"},
		{"topology spread without a key", map[string]any{"postgresql": map[string]any{"topologySpreadConstraints": []any{map[string]any{"maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}}}}, nil,
			"postgresql.topologySpreadConstraints[0].topologyKey"},
		{"node selector value with a space", map[string]any{"agent": map[string]any{"nodeSelector": map[string]any{"pool": "pki nodes"}}}, nil, "agent.nodeSelector.pool"},
		{"runs as root", map[string]any{"server": map[string]any{"securityContext": map[string]any{"runAsUser": 0}}}, nil, "server.securityContext.runAsUser"},
		{"adds a capability", map[string]any{"agent": map[string]any{"securityContext": map[string]any{"capabilities": map[string]any{"add": []any{"NET_ADMIN"}}}}}, nil,
			"agent.securityContext.capabilities.add[0]"},
		{"verify-full with a URL that says disable", map[string]any{
			"postgresql":       map[string]any{"enabled": false, "tls": map[string]any{"mode": "verify-full", "caSecretRef": "db-ca"}},
			"externalDatabase": map[string]any{"url": "postgres://certctl:pw@db.example.com:5432/certctl?sslmode=disable"},
		}, []string{"externalDatabase"}, "postgresql.tls.mode"},
		{"trusted proxy as a host name", server(map[string]any{"trustedProxies": []any{"ingress-nginx.ingress"}}), nil, "server.trustedProxies[0]"},
		{"CORS wildcard", server(map[string]any{"cors": map[string]any{"origins": "*"}}), nil, "server.cors.origins"},
		{"pull secret name with a bang", map[string]any{"imagePullSecrets": []any{map[string]any{"name": "regcred!"}}}, nil, "imagePullSecrets[0].name"},
	}
	require.GreaterOrEqual(t, len(cases), 40)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := run(t, withConfig(t, DeepMerge(base(), tc.config), tc.secret...))
			require.Error(t, err)
			assert.Contains(t, err.Error(), "certctl:"+tc.key+":", "the message names the full key path")
			assert.Empty(t, r.Resources, "nothing is registered")
		})
	}
}
