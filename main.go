// Command certctl is the Pulumi program that deploys certctl to Kubernetes; see README.md.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/certctl-io/certctl-pulumi/program"
)

func main() {
	pulumi.Run(program.Run)
}
