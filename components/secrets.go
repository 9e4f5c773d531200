package components

import (
	"strconv"

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
	return rotatable(ctx, name, given, 0, opts...)
}

// rotatable is givenOrGenerated with a rotation counter: each new value of rotation generates a
// new value. Rotation 0 sets no keeper, so a stack from before the counter keeps its value.
func rotatable(ctx *pulumi.Context, name string, given config.Secret, rotation int, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	if given.IsSet() {
		return given.Output(), nil
	}
	var keepers pulumi.StringMapInput
	if rotation != 0 {
		keepers = pulumi.StringMap{"rotation": pulumi.String(strconv.Itoa(rotation))}
	}
	return generatedWith(ctx, name, keepers, opts...)
}

// generated is a random value kept in the stack's state (a secret), the same at every update.
func generated(ctx *pulumi.Context, name string, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	return generatedWith(ctx, name, nil, opts...)
}

// generatedWith is generated with keepers: a change to them replaces the value.
func generatedWith(ctx *pulumi.Context, name string, keepers pulumi.StringMapInput, opts ...pulumi.ResourceOption) (pulumi.StringOutput, error) {
	pw, err := random.NewRandomPassword(ctx, name, &random.RandomPasswordArgs{
		Length:  pulumi.Int(generatedLength),
		Special: pulumi.Bool(false),
		Keepers: keepers,
	}, append(opts, pulumi.IgnoreChanges([]string{"length", "special"}))...)
	if err != nil {
		return pulumi.StringOutput{}, err
	}
	return pulumi.ToSecret(pw.Result).(pulumi.StringOutput), nil
}
