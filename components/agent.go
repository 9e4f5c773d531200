package components

import (
	"fmt"
	"path"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	k8sappsv1 "k8s.io/api/apps/v1"

	"github.com/certctl-io/certctl-pulumi/config"
)

// agentKeyVolume holds agent.keyDir, which the agent creates inside it.
const agentKeyVolume = "keys"

// keyDirSizeLimit caps the node-local key store so a runaway agent cannot fill the node's disk.
const keyDirSizeLimit = "1Gi"

// AgentArgs is what NewAgent is given: the agent section, the server's endpoint (its URL and the
// TLS Secret with the CA) and the agents' credentials.
type AgentArgs struct {
	Release Release
	// Name is the workload's and ConfigMap's name.
	Name   string
	Agent  config.Agent
	Server ServerEndpoint
	// Credentials: the agents' key and the bootstrap token, which the agents' own Secret holds;
	// their digest rolls the agents when either changes.
	Credentials Credentials
}

// Agent runs certctl-agent on every node (DaemonSet) or, with agent.kind Deployment, as a fixed
// set of replicas (a StatefulSet, so each keeps its key and identity).
type Agent struct {
	pulumi.ResourceState

	WorkloadName pulumi.StringOutput `pulumi:"workloadName"`
	// Kind is the workload's Kubernetes kind: DaemonSet, or StatefulSet for agent.kind Deployment.
	Kind pulumi.StringOutput `pulumi:"kind"`
}

// NewAgent registers a certctl:index:Agent component: a ConfigMap, the agents' own Secret, and a
// DaemonSet or, for agent.kind Deployment, a StatefulSet, each with a register init container.
// It returns the component with the workload's name and kind.
func NewAgent(ctx *pulumi.Context, name string, args *AgentArgs, opts ...pulumi.ResourceOption) (*Agent, error) {
	if args == nil || args.Name == "" || args.Server.URL == "" {
		return nil, fmt.Errorf("agent %q: Name and Server are required", name)
	}
	component := &Agent{}
	if err := ctx.RegisterComponentResource("certctl:index:Agent", name, component, opts...); err != nil {
		return nil, err
	}
	child := pulumi.Parent(component)

	// One ConfigMap and one Secret serve both containers.
	env := active(append(agentEnv(args, true), agentEnv(args, false)...))
	settings := configData(env)
	cm, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
		Metadata: args.Release.objectMeta(args.Name, componentAgent, nil),
		Data:     pulumi.ToStringMap(settings),
	}, child)
	if err != nil {
		return nil, err
	}
	meta := args.Release.objectMeta(args.Name, componentAgent, nil)
	// The agents' own Secret, not the server's: this component is created after every server
	// replica accepts the new credentials (it depends on the server's Ready objects), so an agent pod
	// that starts while the server still rolls reads credentials every server pod accepts.
	credentials := secretData(env)
	secret, err := corev1.NewSecret(ctx, name, &corev1.SecretArgs{
		Metadata: meta, Type: pulumi.String("Opaque"), StringData: credentials,
	}, child)
	if err != nil {
		return nil, err
	}
	template := agentPodTemplate(args, settings, credentials)
	selector := args.Release.selector(componentAgent)
	deps := pulumi.DependsOn([]pulumi.Resource{cm, secret})
	var workload pulumi.StringOutput
	if args.Agent.Kind == config.AgentDeployment {
		// A StatefulSet, not a Deployment: its pods keep their names (certctl-agent-0, ...) across
		// replacements, and the name is the agent's identity, so a rollout re-attaches every pod
		// to its agent (its targets, jobs and keys) instead of registering a new one and leaving
		// the old one registered and offline.
		set, err := appsv1.NewStatefulSet(ctx, name, &appsv1.StatefulSetArgs{Metadata: meta, Spec: &appsv1.StatefulSetSpecArgs{
			Replicas: pulumi.Int(args.Agent.Replicas), Selector: selector, Template: template,
			// The agents do not depend on each other: start and replace them all at once.
			PodManagementPolicy: pulumi.String("Parallel"),
		}}, child, deps, waitFor(args.Agent.RolloutWait()))
		if err != nil {
			return nil, err
		}
		workload = set.Metadata.Name().Elem()
	} else {
		d, err := appsv1.NewDaemonSet(ctx, name, &appsv1.DaemonSetArgs{Metadata: meta, Spec: &appsv1.DaemonSetSpecArgs{
			Selector: selector, Template: template, UpdateStrategy: daemonSetUpdateStrategy(args.Agent.UpdateStrategy),
		}}, child, deps, waitFor(args.Agent.RolloutWait()))
		if err != nil {
			return nil, err
		}
		workload = d.Metadata.Name().Elem()
	}
	component.WorkloadName = workload
	component.Kind = pulumi.String(args.Agent.WorkloadKind()).ToStringOutput()
	return component, ctx.RegisterResourceOutputs(component, pulumi.Map{"workloadName": component.WorkloadName, "kind": component.Kind})
}

// daemonSetUpdateStrategy is agent.updateStrategy as the SDK's input.
func daemonSetUpdateStrategy(u k8sappsv1.DaemonSetUpdateStrategy) *appsv1.DaemonSetUpdateStrategyArgs {
	args := &appsv1.DaemonSetUpdateStrategyArgs{Type: pulumi.String(string(u.Type))}
	if r := u.RollingUpdate; r != nil && u.Type == k8sappsv1.RollingUpdateDaemonSetStrategyType {
		args.RollingUpdate = &appsv1.RollingUpdateDaemonSetArgs{MaxUnavailable: intOrString(r.MaxUnavailable), MaxSurge: intOrString(r.MaxSurge)}
	}
	return args
}

// The agent's identity file, in a pod-lifetime volume the init container writes.
const (
	agentIdentityPath = "/var/lib/certctl/identity"
	agentIDFile       = agentIdentityPath + "/agent-id"
)

// agentEnv is the environment of the agent container (agent) or of the registering init
// container (register): both name the server and the agent; only the agent holds the agents'
// key, only the init container the bootstrap token.
func agentEnv(a *AgentArgs, register bool) []envEntry {
	env := []envEntry{
		plainEnv("CERTCTL_SERVER_URL", a.Server.URL),
		plainEnv("CERTCTL_SERVER_CA_BUNDLE_PATH", a.Server.TLSMountPath+"/ca.crt"),
		agentNameEnv(a.Agent).setBy("agent.name"),
	}
	if register {
		return append(env, secretEnv("CERTCTL_AGENT_BOOTSTRAP_TOKEN", keyBootstrapToken, a.Credentials.BootstrapToken).setBy("server.auth.agentBootstrapToken"))
	}
	env = append(env,
		secretEnv("CERTCTL_API_KEY", keyAgentAPIKey, a.Credentials.AgentKey).setBy("server.auth.agentApiKey"),
		// Set by agentCommand from the file the init container writes.
		envEntry{name: "CERTCTL_AGENT_ID", off: true},
		plainEnv("CERTCTL_KEY_DIR", a.Agent.KeyDir).setBy("agent.keyDir"))
	return append(env, when(a.Agent.DiscoveryDirs != "", plainEnv("CERTCTL_DISCOVERY_DIRS", a.Agent.DiscoveryDirs).setBy("agent.discoveryDirs"))...)
}

// agentNameEnv is the agent's stable identity: the node for a DaemonSet (one agent per node, the
// same agent after every restart), agent.name or the StatefulSet pod's name (which a replaced
// pod takes over) for agent.kind Deployment.
func agentNameEnv(agent config.Agent) envEntry {
	switch {
	case agent.Kind == config.AgentDeployment && agent.Name != "":
		return plainEnv("CERTCTL_AGENT_NAME", agent.Name)
	case agent.Kind == config.AgentDeployment:
		return fieldEnv("CERTCTL_AGENT_NAME", "metadata.name")
	default:
		return fieldEnv("CERTCTL_AGENT_NAME", "spec.nodeName")
	}
}

// agentVolumes are the agent container's volumes and mounts. The key volume is mounted at the
// parent of agent.keyDir, not at keyDir itself: the agent creates keyDir and makes it 0700
// before writing a key, and it may not chmod a mount point (kubelet creates an emptyDir root,
// owned by root, 0777), which fails every key it would generate. Agents verify the server with
// the CA only; the server's key stays out of their pods.
func agentVolumes(a *AgentArgs) []ownVolume {
	return []ownVolume{
		{volume: emptyDirVolume(agentKeyVolume, keyDirSizeLimit), path: path.Dir(path.Clean(a.Agent.KeyDir))},
		{volume: emptyDirVolume("identity", ""), path: agentIdentityPath, readOnly: true},
		{volume: emptyDirVolume("tmp", ""), path: "/tmp"},
		{volume: secretVolume(serverTLSVolume, a.Server.TLSSecret, "ca.crt"), path: a.Server.TLSMountPath, readOnly: true},
	}
}

func agentPodTemplate(a *AgentArgs, settings map[string]string, credentials pulumi.StringMap) *corev1.PodTemplateSpecArgs {
	ag := a.Agent
	volumes, mounts := podVolumes(agentVolumes(a))
	register := workloadContainer("register", ag.Workload)
	register.Command = pulumi.ToStringArray([]string{"/bin/sh", "-c", registerScript(agentIDFile)})
	register.Env = envVars(active(agentEnv(a, true)), a.Name, a.Name)
	register.VolumeMounts = corev1.VolumeMountArray{
		mount("identity", agentIdentityPath),
		mount("tmp", "/tmp"),
		readOnlyMount(serverTLSVolume, a.Server.TLSMountPath),
	}
	agent := workloadContainer(componentAgent, ag.Workload)
	agent.Command = pulumi.ToStringArray(agentCommand(agentIDFile))
	agent.Env = append(envVars(active(agentEnv(a, false)), a.Name, a.Name), extraEnv(ag.Env, ag.ExtraEnv)...)
	agent.VolumeMounts = volumeMountsInput(nil, mounts...)

	spec := workloadPodSpec(a.Release, ag.Workload)
	spec.AutomountServiceAccountToken = pulumi.Bool(false)
	spec.EnableServiceLinks = pulumi.Bool(false)
	spec.InitContainers = corev1.ContainerArray{register}
	spec.Containers = corev1.ContainerArray{agent}
	spec.Volumes = volumesInput(nil, volumes...)
	annotations := podAnnotations(ag.PodAnnotations, settings, credentials, a.Credentials.ChecksumKey)
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{Labels: pulumi.ToStringMap(a.Release.labels(componentAgent)), Annotations: annotations},
		Spec:     &spec,
	}
}
