// Command pulumi-resource-certctl serves the certctl deployment as a Pulumi component package:
// one component, certctl:index:Certctl, whose inputs are the configuration document of the Go
// program's stack config and whose outputs are its stack outputs. It builds exactly what the
// program builds (program.Check and program.Install); see the README, "Using it as a package".
package main

import (
	"context"
	"fmt"
	"os"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

// Name is the package's name: the first part of every type token, and the plugin's name
// (pulumi-resource-certctl).
const Name = "certctl"

// Version is the package's version, the one consumers pin; a release sets it with
// -ldflags "-X main.Version=...".
var Version = "0.1.0"

func main() {
	prov, err := Provider()
	if err == nil {
		err = prov.Run(context.Background(), Name, Version)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// Provider is the package: the Certctl component, its schema inferred from CertctlArgs (the
// config types, args_gen.go) and Certctl (the outputs).
func Provider() (p.Provider, error) {
	prov, err := infer.NewProviderBuilder().
		WithDisplayName("certctl").
		WithDescription("certctl, the certificate-lifecycle server on PostgreSQL with its agents, on Kubernetes.").
		WithKeywords("kubernetes", "certificates", "certctl", "category/utility", "kind/component").
		WithComponents(infer.ComponentF(NewCertctl)).
		Build()
	if err != nil {
		return p.Provider{}, err
	}
	prov.Construct = settled(prov.Construct)
	return prov, nil
}
