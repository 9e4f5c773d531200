package engine

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/tests/conformance"
)

// checkObjectsMatchGolden: every object of the golden render of the stack (tests, TestGolden
// Stacks: the same configuration under the mocks) is in the API server with every field the
// render gives it, and the program made no object the render does not predict. Only what the
// mocks cannot know is left out (mockOnly).
func (d *deployment) checkObjectsMatchGolden() {
	t := d.t
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), "tests", "testdata", "golden", "stack-"+d.name+".yaml"))
	require.NoError(t, err, "the stack's golden render (make golden)")
	var predicted []string
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		var want map[string]any
		require.NoError(t, yaml.Unmarshal([]byte(doc), &want))
		if want == nil {
			continue
		}
		kind, name := want["kind"].(string), conformance.Nested(want, "metadata", "name").(string)
		group, _, _ := strings.Cut(want["apiVersion"].(string), "/")
		if !strings.Contains(want["apiVersion"].(string), "/") {
			group = ""
		}
		resource := strings.ToLower(kind)
		if group != "" {
			resource += "." + group
		}
		if live := d.liveName(resource, name); live != name {
			want["metadata"].(map[string]any)["name"], name = live, live
		}
		predicted = append(predicted, shortKind(strings.ToLower(kind)+"/"+name))
		args := []string{"get", resource + "/" + name, "-o", "json"}
		if ns, ok := conformance.Nested(want, "metadata", "namespace").(string); ok {
			args = append([]string{"-n", ns}, args...)
		}
		out, err := d.c.Kubectl(args...)
		if !assert.NoError(t, err, "%s/%s is in the API server: %s", kind, name, out) {
			continue
		}
		var live map[string]any
		require.NoError(t, json.Unmarshal([]byte(out), &live))
		for _, diff := range subsetDiffs(kind, "", normalise(want), live) {
			t.Errorf("%s/%s differs from the golden render: %s", kind, name, diff)
		}
	}
	for _, o := range d.managedObjects() {
		if strings.HasPrefix(o, "pvc/data-") { // a StatefulSet's claim, made by its controller
			continue
		}
		assert.Contains(t, predicted, o, "the program made %s, which the golden render does not predict", o)
	}
}

// liveName is the object's name in the cluster: the render's, except for the password-change
// Job, whose name ends in a digest of the password the mocks make up.
func (d *deployment) liveName(resource, name string) string {
	if resource != "job.batch" || !strings.Contains(name, "-pgpass-") {
		return name
	}
	for live := range d.jobs("postgres-password") {
		return live
	}
	return name
}

// mockOnly says whether a golden field holds what only the real run knows: generated secrets,
// certificates and the digests of them (the password-change Job's name: liveName).
func mockOnly(kind, path string) bool {
	switch {
	case kind == "Secret" && (strings.HasPrefix(path, ".stringData") || strings.HasPrefix(path, ".data")):
		return true // generated values (the live object holds data, the render stringData)
	case strings.HasSuffix(path, ".annotations.checksum/secret"):
		return true // keyed by a generated key
	}
	return false
}

// subsetDiffs lists where live lacks or differs from a field of want, below path.
func subsetDiffs(kind, path string, want, live any) []string {
	if mockOnly(kind, path) {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		l, ok := live.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, the API server has %v", path, live)}
		}
		var diffs []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			child := path + "." + k
			if mockOnly(kind, child) {
				continue
			}
			lv, ok := l[k]
			if !ok {
				if !empty(w[k]) {
					diffs = append(diffs, child+": missing in the API server")
				}
				continue
			}
			diffs = append(diffs, subsetDiffs(kind, child, w[k], lv)...)
		}
		return diffs
	case []any:
		l, ok := live.([]any)
		if !ok || len(l) != len(w) {
			return []string{fmt.Sprintf("%s: want %d items, the API server has %v", path, len(w), live)}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, subsetDiffs(kind, fmt.Sprintf("%s[%d]", path, i), w[i], l[i])...)
		}
		return diffs
	default:
		if !reflect.DeepEqual(want, live) {
			return []string{fmt.Sprintf("%s: want %v, the API server has %v", path, want, live)}
		}
		return nil
	}
}

// empty is a value the API server drops: an empty object or list.
func empty(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// normalise makes the YAML-decoded render compare with the API server's JSON (numbers as float64).
func normalise(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}
