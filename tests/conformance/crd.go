package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// crdSchema is what the API server derives from one served version of a CRD.
type crdSchema struct {
	structural *structuralschema.Structural
	validator  validation.SchemaValidator
	// cel evaluates the schema's x-kubernetes-validations rules (nil when it has none).
	cel *cel.Validator
}

// crdDir holds the upstream CRDs. It is found relative to this source file because go:embed
// cannot reach outside the package directory and the project keeps CRDs in tests/testdata/crds;
// this needs the source tree (tests always have it) and a build without -trimpath.
func crdDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "testdata", "crds")
}

// crds loads every CRD once, keyed by "group/version/kind" like builtins.
var crds = sync.OnceValues(func() (map[string]crdSchema, error) {
	files, err := filepath.Glob(filepath.Join(crdDir(), "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs found in %s", crdDir())
	}
	out := map[string]crdSchema{}
	for _, file := range files {
		if err := loadCRD(file, out); err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Base(file), err)
		}
	}
	return out, nil
})

// loadCRD adds the schema of every served version of the CRD in file to out.
func loadCRD(file string, out map[string]crdSchema) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.Unmarshal(data, &crd); err != nil {
		return err
	}
	for _, v := range crd.Spec.Versions {
		if !v.Served || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		validator, _, err := validation.NewSchemaValidator(&internal)
		if err != nil {
			return fmt.Errorf("version %s: %w", v.Name, err)
		}
		out[crd.Spec.Group+"/"+v.Name+"/"+crd.Spec.Names.Kind] = crdSchema{structural, validator, cel.NewValidator(structural, true, celconfig.PerCallLimit)}
	}
	return nil
}

// crdFor finds the CRD schema for obj's apiVersion and kind; ok is false when there is none.
func crdFor(obj Object) (s crdSchema, ok bool, err error) {
	all, err := crds()
	if err != nil {
		return crdSchema{}, false, err
	}
	s, ok = all[gvk(obj)]
	return s, ok, nil
}

// ValidateCustomResource validates a custom resource the way the API server does on create,
// against the upstream CRD in tests/testdata/crds: the OpenAPI schema (types, required fields,
// enums, patterns), list-type invariants and embedded ObjectMeta. It also reports every field
// structural pruning would remove: the server drops those silently, which is exactly the
// silent-loss bug this package guards against. metadata.name and labels are CheckNames' job.
func ValidateCustomResource(obj Object) error {
	s, ok, err := crdFor(obj)
	if err != nil {
		return problemf(obj, "loading CRDs: %v", err)
	}
	if !ok {
		return problemf(obj, "no CRD for %q in tests/testdata/crds", gvk(obj))
	}
	u, err := asServerDecodes(obj)
	if err != nil {
		return problemf(obj, "not serializable to JSON: %v", err)
	}
	var msgs []string
	unknown, err := unknownFields(u, s.structural)
	if err != nil {
		msgs = append(msgs, err.Error())
	}
	for _, path := range unknown {
		msgs = append(msgs, fmt.Sprintf("unknown field %q", path))
	}
	var errs field.ErrorList
	errs = append(errs, validation.ValidateCustomResource(nil, u, s.validator)...)
	errs = append(errs, objectmeta.Validate(nil, u, s.structural, false)...)
	errs = append(errs, listtype.ValidateListSetsAndMaps(nil, s.structural, u)...)
	if s.cel != nil {
		// As on create: no old object, the API server's per-request cost budget.
		celErrs, _ := s.cel.Validate(context.Background(), nil, s.structural, u, nil, celconfig.RuntimeCELCostBudget)
		errs = append(errs, celErrs...)
	}
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	if len(msgs) == 0 {
		return nil
	}
	return problemf(obj, "%s", strings.Join(msgs, "; "))
}

// asServerDecodes round-trips obj through JSON into the form the API server validates: a copy
// (pruning mutates it) in which integral numbers are int64, so `type: integer` holds for 3.0.
func asServerDecodes(obj Object) (map[string]any, error) {
	data, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var u map[string]any
	err = kjson.UnmarshalCaseSensitivePreserveInts(data, &u)
	return u, err
}

// unknownFields prunes u like the API server's decoder and returns the paths it dropped: unknown
// metadata fields, fields outside the schema, and unknown fields of embedded ObjectMeta.
func unknownFields(u map[string]any, s *structuralschema.Structural) ([]string, error) {
	_, _, paths, err := objectmeta.GetObjectMetaWithOptions(u, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	paths = append(paths, pruning.PruneWithOptions(u, s, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	ferr, embedded := objectmeta.CoerceWithOptions(nil, u, s, false, objectmeta.CoerceOptions{ReturnUnknownFieldPaths: true})
	if ferr != nil {
		return paths, ferr
	}
	return append(paths, embedded...), nil
}
