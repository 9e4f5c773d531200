// Package program is the body of the Pulumi program, importable so tests run exactly what
// `pulumi up` runs.
package program

import (
	"fmt"

	"github.com/pulumi/pulumi-aws/sdk/v6/go/aws"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

// Run is the Pulumi program: Deploy, then export its outputs.
func Run(ctx *pulumi.Context) error {
	outputs, err := Deploy(ctx)
	if err != nil {
		return err
	}
	for k, v := range outputs {
		ctx.Export(k, v)
	}
	return nil
}

// Deploy loads and validates the configuration, registers the deployment and returns the stack
// outputs. A refused configuration registers nothing.
func Deploy(ctx *pulumi.Context) (pulumi.Map, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, err
	}
	if err := Check(ctx, &cfg); err != nil {
		return nil, err
	}
	provider, err := kubernetesProvider(ctx)
	if err != nil {
		return nil, err
	}
	providers := []pulumi.ProviderResource{provider}
	if cfg.NeedsAWS() {
		aws, err := AWSProvider(ctx, "aws", &cfg)
		if err != nil {
			return nil, err
		}
		providers = append(providers, aws)
	}
	return Install(ctx, "certctl", &cfg, nil, pulumi.Providers(providers...))
}

// Check validates a loaded configuration and logs its warnings: what runs before anything is
// registered, in the program and in the package's component alike.
func Check(ctx *pulumi.Context, cfg *config.Config) error {
	if err := cfg.Validate(components.Reserved(cfg)); err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		if err := ctx.Log.Warn(w, nil); err != nil {
			return err
		}
	}
	return nil
}

// AWSProvider is the aws provider the backup bucket and its IAM access are built with (only
// when cfg.NeedsAWS()), in the region backup.s3.region names.
func AWSProvider(ctx *pulumi.Context, name string, cfg *config.Config, opts ...pulumi.ResourceOption) (*aws.Provider, error) {
	p, err := aws.NewProvider(ctx, name, &aws.ProviderArgs{Region: pulumi.String(cfg.Backup.S3.Region)}, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws provider: %w", err)
	}
	return p, nil
}

// Install registers the deployment of a checked configuration and returns the stack outputs.
// With owner nil it registers the Certctl component under name with opts; otherwise it builds
// into owner (see components.CertctlArgs.Owner) and opts go to the children.
func Install(ctx *pulumi.Context, name string, cfg *config.Config, owner pulumi.ComponentResource, opts ...pulumi.ResourceOption) (pulumi.Map, error) {
	certctl, err := components.NewCertctl(ctx, name, &components.CertctlArgs{Config: cfg, Owner: owner}, opts...)
	if err != nil {
		return nil, err
	}
	return outputs(ctx, cfg, certctl), nil
}

// kubernetesProvider renders manifests to a directory when certctl:renderYamlToDirectory is set
// (the local stack: no cluster needed); otherwise it targets kubernetes:kubeconfig/context, or
// the ambient kubeconfig when those are unset, as kubernetes:clusterIdentifier names it. The
// kubeconfig stays a secret: it may hold a token or a client key.
func kubernetesProvider(ctx *pulumi.Context) (*kubernetes.Provider, error) {
	// ConfigMaps and Secrets are updated in place: the provider would otherwise replace one whose
	// data changes, and with a fixed name it deletes it first, so a pod starting in between cannot
	// find its settings or keys. The pods roll through their checksum annotations instead.
	args := &kubernetes.ProviderArgs{EnableConfigMapMutable: pulumi.BoolPtr(true), EnableSecretMutable: pulumi.BoolPtr(true)}
	if dir := pulumiconfig.Get(ctx, config.Namespace+":renderYamlToDirectory"); dir != "" {
		args.RenderYamlToDirectory = pulumi.StringPtr(dir)
	} else {
		k8s := pulumiconfig.New(ctx, "kubernetes")
		if v, err := k8s.TrySecret("kubeconfig"); err == nil {
			args.Kubeconfig = v
		}
		if v := k8s.Get("context"); v != "" {
			args.Context = pulumi.StringPtr(v)
		}
		// With an identifier, only a change of it replaces the provider (and with it every
		// object); a renamed context or a new kubeconfig for the same cluster is an update.
		if v := k8s.Get("clusterIdentifier"); v != "" {
			args.ClusterIdentifier = pulumi.StringPtr(v)
		}
	}
	p, err := kubernetes.NewProvider(ctx, "kubernetes", args)
	if err != nil {
		return nil, fmt.Errorf("kubernetes provider: %w", err)
	}
	return p, nil
}
