package components

import (
	"github.com/pulumi/pulumi-random/sdk/v4/go/random"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/config"
)

// generatedLength gives ~238 bits from [A-Za-z0-9]; alphanumeric keeps values safe inside
// comma-separated key lists, URLs and env vars.
const generatedLength = 40

// givenOrGenerated returns the user's secret, or a RandomPassword's result. A generated value
// is stored in state and never changes by itself, not even when this program's generation
// parameters change (a new Postgres password would lock the server out): only replacing the
// RandomPassword rotates it.
func givenOrGenerated(ctx *pulumi.Context, name string, given config.Secret, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	if given.IsSet() {
		return given.Output(), nil
	}
	return generated(ctx, name, opts...)
}

// generated is a random value kept in the stack's state (a secret), the same at every update.
func generated(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	pw, err := random.NewRandomPassword(ctx, name, &random.RandomPasswordArgs{
		Length:  pulumi.Int(generatedLength),
		Special: pulumi.Bool(false),
	}, append(opts, pulumi.IgnoreChanges([]string{"length", "special"}))...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return pulumi.ToSecret(pw.Result).(pulumi.StringOutput), nil
}
