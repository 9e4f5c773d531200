package main

import (
	"context"
	"reflect"
	"slices"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/urn"
	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	perrors "github.com/pulumi/pulumi/sdk/v3/go/pulumi/errors"
)

// settled wraps a Construct so that the inputs reach CertctlArgs as the SDK can copy them: the
// SDK accepts a secret or another resource's output only in an Output-typed field, so a secret
// or dependent section (`externalDatabase` as one secret, say) passes its marks down to its
// settings' Outputs; lists, maps and Kubernetes fragments take plain values, as stack config
// holds them. A key that names no setting is refused, as config.Load refuses it.
func settled(construct func(context.Context, p.ConstructRequest) (p.ConstructResponse, error)) func(context.Context, p.ConstructRequest) (p.ConstructResponse, error) {
	return func(ctx context.Context, req p.ConstructRequest) (p.ConstructResponse, error) {
		var unknown []perrors.InputPropertyErrorDetails
		v := settle(property.New(req.Inputs), reflect.TypeFor[CertctlArgs](), "", false, nil, &unknown)
		if len(unknown) > 0 {
			return p.ConstructResponse{}, perrors.NewInputPropertiesError("certctl: the configuration is refused", unknown...)
		}
		req.Inputs = v.AsMap()
		return construct(ctx, req)
	}
}

var outputType = reflect.TypeFor[pulumi.Output]()

// settle is v for a field of type t at key path, with the secrecy and dependencies of the
// values around it.
func settle(v property.Value, t reflect.Type, path string, secret bool, deps []urn.URN, unknown *[]perrors.InputPropertyErrorDetails) property.Value {
	secret, deps = secret || v.Secret(), append(slices.Clip(deps), v.Dependencies()...)
	if t.Implements(outputType) {
		return v.WithSecret(secret).WithDependencies(deps)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || !v.IsMap() {
		return plain(v)
	}
	fields := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		fields[tagName(f)] = f.Type
	}
	m := map[string]property.Value{}
	for k, e := range v.AsMap().All {
		key := k
		if path != "" {
			key = path + "." + k
		}
		ft, ok := fields[k]
		if !ok {
			*unknown = append(*unknown, perrors.InputPropertyErrorDetails{PropertyPath: key,
				Reason: "unknown key; check the key names against the README's config reference"})
			continue
		}
		m[k] = settle(e, ft, key, secret, deps, unknown)
	}
	return property.New(m)
}

// plain is v without secrecy or dependencies, at every depth.
func plain(v property.Value) property.Value {
	v = v.WithSecret(false).WithDependencies(nil)
	switch {
	case v.IsMap():
		m := map[string]property.Value{}
		for k, e := range v.AsMap().All {
			m[k] = plain(e)
		}
		return property.New(m)
	case v.IsArray():
		var a []property.Value
		for _, e := range v.AsArray().All {
			a = append(a, plain(e))
		}
		return property.New(a)
	}
	return v
}
