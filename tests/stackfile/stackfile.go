// Package stackfile reads the project's stack files as the engine tier deploys them: the file's
// config with the tier's overlay (tests/testdata/engine-stacks.yaml) merged in. The golden render
// of each stack (tests, TestGolden) and the engine tier (tests/engine) read it here, so both judge
// the same configuration.
package stackfile

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"sigs.k8s.io/yaml"
)

// OverlayFile is the engine tier's changes to the stack files, relative to the module root.
const OverlayFile = "tests/testdata/engine-stacks.yaml"

// Names are the stacks the engine tier deploys: OverlayFile's entries, sorted.
func Names(root string) ([]string, error) {
	var overlay map[string]any
	if err := readYAML(filepath.Join(root, OverlayFile), &overlay); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(overlay)), nil
}

// Read is stacks/Pulumi.<name>.yaml's config block under root (the module root), as written.
func Read(root, name string) (map[string]any, error) {
	var file struct {
		Config map[string]any `json:"config"`
	}
	if err := readYAML(filepath.Join(root, "stacks", "Pulumi."+name+".yaml"), &file); err != nil {
		return nil, err
	}
	return file.Config, nil
}

// Load is Read with the overlay's entries for the stack merged in: objects key by key, anything
// else replaced.
func Load(root, name string) (map[string]any, error) {
	values, err := Read(root, name)
	if err != nil {
		return nil, err
	}
	var overlay map[string]map[string]any
	if err := readYAML(filepath.Join(root, OverlayFile), &overlay); err != nil {
		return nil, err
	}
	for k, v := range overlay[name] {
		values[k] = merge(values[k], v)
	}
	return values, nil
}

// merge lays over on top of base: maps key by key, anything else (lists included) replaced.
func merge(base, over any) any {
	b, okB := base.(map[string]any)
	o, okO := over.(map[string]any)
	if !okB || !okO {
		return over
	}
	out := maps.Clone(b)
	for k, v := range o {
		out[k] = merge(b[k], v)
	}
	return out
}

func readYAML(path string, into any) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(raw, into); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
