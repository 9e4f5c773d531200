package tests

import (
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/certctl-io/certctl-pulumi/components"
	"github.com/certctl-io/certctl-pulumi/config"
)

// documentedKey is one key row of the README's configuration reference, with the default it
// states ("" when the row states none).
type documentedKey struct {
	key, def string
	// row is the whole table row, for what it says about the key.
	row string
}

// readmeReference parses the tables of the README's "Configuration reference": the first column
// holds keys (several per cell, comma-separated; `<part>` stands for each per-part column of
// the table; `x.*` covers every key under x), a "default" column or one column per part holds
// the default.
func readmeReference(t *testing.T) []documentedKey {
	t.Helper()
	raw, err := os.ReadFile("../README.md")
	require.NoError(t, err)
	text := string(raw)
	start := strings.Index(text, "\n## Configuration reference")
	require.GreaterOrEqual(t, start, 0, "README has no configuration reference")
	end := strings.Index(text[start+1:], "\n## ")
	section := text[start : start+1+end]

	var out []documentedKey
	var header []string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "|") {
			header = nil
			continue
		}
		cells := tableCells(line)
		switch {
		case header == nil:
			header = cells
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		for _, key := range backticked(cells[0]) {
			switch {
			case strings.Contains(key, "<part>"):
				for i, col := range header {
					if i >= 2 && col != "meaning" {
						out = append(out, documentedKey{strings.ReplaceAll(key, "<part>", col), firstDefault(cells[i]), line})
					}
				}
			case slices.Contains(header, "default"):
				out = append(out, documentedKey{key, firstDefault(cells[slices.Index(header, "default")]), line})
			default:
				out = append(out, documentedKey{key: key, row: line})
			}
		}
	}
	return out
}

func tableCells(line string) []string {
	parts := strings.Split(strings.Trim(line, "|"), "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

var codeSpan = regexp.MustCompile("`([^`]*)`")

func backticked(cell string) []string {
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(cell, -1) {
		out = append(out, m[1])
	}
	return out
}

// firstDefault is the stated default: the first code span, or a bare word such as unset.
func firstDefault(cell string) string {
	if m := codeSpan.FindStringSubmatch(cell); m != nil && strings.HasPrefix(cell, "`") {
		return m[1]
	}
	if f := strings.Fields(cell); len(f) > 0 {
		return f[0]
	}
	return ""
}

// configLeaves are the settable keys: paths with nothing below them.
func configLeaves() []string {
	paths := config.SettingPaths()
	var leaves []string
	for _, p := range paths {
		if !slices.ContainsFunc(paths, func(q string) bool { return strings.HasPrefix(q, p+".") }) {
			leaves = append(leaves, p)
		}
	}
	return leaves
}

// TestReadmeReferenceMatchesConfig: every setting is in the README's reference, every key the
// reference names exists, and every default it states is config.Defaults().
func TestReadmeReferenceMatchesConfig(t *testing.T) {
	documented := readmeReference(t)
	leaves := configLeaves()
	// Keys the program reads outside config.Config.
	extra := []string{"renderYamlToDirectory", "kubernetes:kubeconfig", "kubernetes:context"}

	covered := func(leaf string) bool {
		return slices.ContainsFunc(documented, func(d documentedKey) bool {
			prefix, wildcard := strings.CutSuffix(d.key, ".*")
			return d.key == leaf || wildcard && strings.HasPrefix(leaf, prefix+".")
		})
	}
	for _, leaf := range leaves {
		assert.True(t, covered(leaf), "README's configuration reference lacks %s", leaf)
	}

	defaults := reflect.ValueOf(config.Defaults())
	for _, d := range documented {
		if strings.HasSuffix(d.key, ".*") || slices.Contains(extra, d.key) {
			continue
		}
		if !slices.Contains(leaves, d.key) {
			t.Errorf("README's configuration reference names %s, which is not a setting", d.key)
			continue
		}
		v := valueAt(defaults, d.key)
		if d.def == "" || v.Type() == reflect.TypeFor[config.Secret]() {
			continue // stated by the text, or generated/unset secrets
		}
		assert.Equal(t, docDefault(v), d.def, "README default of %s", d.key)
	}
}

// valueAt walks a Config value by a key path of JSON names, through embedded structs.
func valueAt(v reflect.Value, path string) reflect.Value {
	for _, name := range strings.Split(path, ".") {
		if v.Kind() == reflect.Pointer {
			if v.IsNil() {
				v = reflect.Zero(v.Type().Elem()) // an unset parent: its keys are at their zero values
			} else {
				v = v.Elem()
			}
		}
		v = fieldByJSON(v, name)
	}
	return v
}

func fieldByJSON(v reflect.Value, name string) reflect.Value {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			if found := fieldByJSON(v.Field(i), name); found.IsValid() {
				return found
			}
			continue
		}
		if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == name {
			return v.Field(i)
		}
	}
	return reflect.Value{}
}

// docDefault writes a default as the README does: code spans hold the value, "unset" an empty
// map, list or pointer; "" an empty string.
func docDefault(v reflect.Value) string {
	if iv, ok := v.Interface().(*intstr.IntOrString); ok && iv != nil {
		return iv.String()
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return "unset"
		}
		return docDefault(v.Elem())
	case reflect.String:
		if v.String() == "" {
			return `""`
		}
		return v.String()
	case reflect.Map:
		if v.Len() == 0 {
			return "unset"
		}
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(v.Interface().(map[string]string))) {
			parts = append(parts, k+": "+v.MapIndex(reflect.ValueOf(k)).String())
		}
		return strings.Join(parts, ", ")
	case reflect.Slice:
		if v.Len() == 0 {
			return "unset"
		}
		var items []string
		for i := range v.Len() {
			items = append(items, docDefault(v.Index(i)))
		}
		return "[" + strings.Join(items, ", ") + "]"
	case reflect.Struct:
		var fields []string
		for i := range v.NumField() {
			if !v.Field(i).IsZero() {
				name, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("json"), ",")
				fields = append(fields, name+": "+docDefault(v.Field(i)))
			}
		}
		return "{" + strings.Join(fields, ", ") + "}"
	default:
		return fmt.Sprint(v.Interface())
	}
}

// TestReadmeReferenceIsTheContract: the README's row for every key that sets a variable names
// that variable, so the reference says what the v2.1.7 binaries get from each key.
func TestReadmeReferenceIsTheContract(t *testing.T) {
	documented := readmeReference(t)
	cfg := config.Defaults()
	reserved := components.Reserved(&cfg)
	for _, e := range slices.Concat(reserved.ServerEnv, reserved.AgentEnv, components.JobEnv(&cfg)) {
		if e.Key == "" {
			continue
		}
		i := slices.IndexFunc(documented, func(d documentedKey) bool { return d.key == e.Key })
		if !assert.GreaterOrEqual(t, i, 0, "%s is not in the README's reference", e.Key) {
			continue
		}
		assert.Contains(t, documented[i].row, e.Name, "the README row of %s names the variable it sets", e.Key)
	}
}
