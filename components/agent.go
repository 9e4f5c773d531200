package components

import (
	"fmt"
	"strconv"

	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// keyDirSizeLimit caps the node-local key store so a runaway agent cannot fill the node's disk.
const keyDirSizeLimit = "1Gi"

type AgentArgs struct {
	Config    *config.Config
	Namespace pulumi.StringInput
	// Credentials are the server Secret values the agent reads; their digest rolls the agents
	// when a key is rotated.
	Credentials pulumi.StringMap
}

// Agent runs certctl-agent on every node (DaemonSet) or as a fixed set of replicas (Deployment).
type Agent struct {
	pulumi.ResourceState

	WorkloadName pulumi.StringOutput `pulumi:"workloadName"`
	Kind         pulumi.StringOutput `pulumi:"kind"`
}

func NewAgent(ctx *pulumi.Context, name string, args *AgentArgs, opts ...pulumi.ResourceOption) (*Agent, error) {
	if args == nil || args.Config == nil {
		return nil, fmt.Errorf("agent %q: Config is required", name)
	}
	a := &Agent{}
	if err := ctx.RegisterComponentResource("certctl:index:Agent", name, a, opts...); err != nil {
		return nil, err
	}
	cfg, ns, names := args.Config, args.Namespace, args.Config.Names()
	child := pulumi.Parent(a)

	env := agentEnv(cfg)
	settings := configData(env)
	cm, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
		Metadata: objectMeta(cfg, ns, names.Agent, componentAgent, nil),
		Data:     pulumi.ToStringMap(settings),
	}, child)
	if err != nil {
		return nil, err
	}
	meta := objectMeta(cfg, ns, names.Agent, componentAgent, nil)
	template := agentPodTemplate(cfg, env, checksum(settings), secretChecksum(args.Credentials))
	selector := &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(selectorLabels(cfg, componentAgent))}
	deps := pulumi.DependsOn([]pulumi.Resource{cm})
	var workload pulumi.StringOutput
	if cfg.Agent.Kind == config.AgentDeployment {
		d, err := appsv1.NewDeployment(ctx, name, &appsv1.DeploymentArgs{Metadata: meta, Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(cfg.Agent.Replicas), Selector: selector, Template: template,
		}}, child, deps)
		if err != nil {
			return nil, err
		}
		workload = d.Metadata.Name().Elem()
	} else {
		d, err := appsv1.NewDaemonSet(ctx, name, &appsv1.DaemonSetArgs{Metadata: meta, Spec: &appsv1.DaemonSetSpecArgs{
			Selector: selector, Template: template,
		}}, child, deps)
		if err != nil {
			return nil, err
		}
		workload = d.Metadata.Name().Elem()
	}
	a.WorkloadName = workload
	a.Kind = pulumi.String(cfg.Agent.Kind).ToStringOutput()
	return a, ctx.RegisterResourceOutputs(a, pulumi.Map{"workloadName": a.WorkloadName, "kind": a.Kind})
}

// agentEnv is the agent's environment; credentials come from the server Secret.
func agentEnv(cfg *config.Config) []envEntry {
	names := cfg.Names()
	env := []envEntry{plainEnv("CERTCTL_SERVER_URL", fmt.Sprintf("https://%s:%s", names.Server, strconv.Itoa(cfg.Server.Service.Port)))}
	if cfg.Server.Auth.Type == config.AuthAPIKey {
		env = append(env, secretRefEnv("CERTCTL_API_KEY", names.Server, keyAgentAPIKey))
	}
	env = append(env, secretRefEnv("CERTCTL_AGENT_BOOTSTRAP_TOKEN", names.Server, keyBootstrapToken))
	if cfg.Agent.Kind == config.AgentDeployment && cfg.Agent.Name != "" {
		env = append(env, plainEnv("CERTCTL_AGENT_NAME", cfg.Agent.Name))
	} else {
		env = append(env, fieldEnv("CERTCTL_AGENT_NAME", "metadata.name"))
	}
	env = append(env,
		plainEnv("CERTCTL_KEY_DIR", cfg.Agent.KeyDir),
		plainEnv("CERTCTL_SERVER_CA_BUNDLE_PATH", cfg.Server.TLS.MountPath+"/ca.crt"))
	return appendIfSet(env, "CERTCTL_DISCOVERY_DIRS", cfg.Agent.DiscoveryDirs)
}

func agentPodTemplate(cfg *config.Config, env []envEntry, settingsSum string, credentialSum pulumi.StringOutput) *corev1.PodTemplateSpecArgs {
	ag, names := cfg.Agent, cfg.Names()
	container := corev1.ContainerArgs{
		Name:            pulumi.String(componentAgent),
		Image:           pulumi.String(ag.Image.Ref()),
		ImagePullPolicy: pulumi.String(ag.Image.PullPolicy),
		Env:             append(envVars(env, names.Agent, names.Server), extraEnv(ag.Env, ag.ExtraEnv)...),
		Resources:       resourceRequirements(ag.Resources),
		SecurityContext: containerSecurityContext(ag.SecurityContext),
		VolumeMounts: corev1.VolumeMountArray{
			mount("keys", ag.KeyDir),
			mount("tmp", "/tmp"),
			readOnlyMount("tls", cfg.Server.TLS.MountPath),
		},
	}
	return &corev1.PodTemplateSpecArgs{
		Metadata: &metav1.ObjectMetaArgs{
			Labels: pulumi.ToStringMap(labels(cfg, componentAgent)),
			Annotations: pulumi.StringMap{
				"checksum/config": pulumi.String(settingsSum),
				"checksum/secret": credentialSum,
			},
		},
		Spec: &corev1.PodSpecArgs{
			AutomountServiceAccountToken: pulumi.Bool(false),
			SecurityContext:              podSecurityContext(ag.SecurityContext),
			ImagePullSecrets:             imagePullSecrets(cfg),
			Containers:                   corev1.ContainerArray{container},
			Volumes: volumesInput(nil,
				emptyDirVolume("keys", keyDirSizeLimit),
				emptyDirVolume("tmp", ""),
				secretVolume("tls", names.TLSSecret)),
			NodeSelector: optStringMap(ag.NodeSelector),
			Tolerations:  tolerationsInput(ag.Tolerations),
			Affinity:     affinityInput(ag.Affinity),
		},
	}
}
