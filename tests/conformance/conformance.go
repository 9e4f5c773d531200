// Package conformance checks a set of rendered Kubernetes objects the way the API server and the
// controllers will see them: that each object would be accepted unchanged (no field silently
// dropped), that pods meet the "restricted" Pod Security Standard, and that the set is
// internally consistent (selectors select, references resolve, names are valid).
//
// Objects are plain JSON-like maps, exactly as a manifest would be written.
package conformance

import (
	"encoding/json"
	"fmt"
	"sort"

	kjson "sigs.k8s.io/json"
)

// Object is one rendered Kubernetes object: "apiVersion", "kind", "metadata" and the rest.
type Object = map[string]any

// Options lists references that are legitimately not rendered by the program (user-provided).
type Options struct {
	// UserProvided holds "Kind/name" references that may be absent, e.g. "Secret/my-tls" (an
	// existing TLS Secret), "Secret/pg-ca". Keys of such objects are not checked.
	UserProvided map[string]bool
}

func (o Options) provided(kind, name string) bool { return o.UserProvided[kind+"/"+name] }

// Check runs every check on every object and returns all problems, each prefixed with
// "<Kind>/<name>: ". Values may be anything encoding/json marshals (e.g. []string); the
// individual checks expect the plain form (map[string]any, []any, string, number, bool).
func Check(objs []Object, opts Options) []error {
	objs = plain(objs)
	var errs []error
	for _, obj := range objs {
		if err := StrictDecode(obj); err != nil {
			errs = append(errs, err)
		}
		errs = append(errs, PodSecurityRestricted(obj)...)
		errs = append(errs, CheckNames(obj)...)
	}
	errs = append(errs, CheckDuplicates(objs)...)
	errs = append(errs, CheckSelectors(objs)...)
	errs = append(errs, CheckReferences(objs, opts)...)
	return errs
}

// CheckDuplicates reports objects rendered more than once: the second create would fail with
// AlreadyExists, or one definition would silently win.
func CheckDuplicates(objs []Object) []error {
	seen := map[string]int{}
	for _, obj := range objs {
		seen[identity(obj)]++
	}
	var errs []error
	for _, obj := range objs {
		if n := seen[identity(obj)]; n > 1 {
			errs = append(errs, problemf(obj, "rendered %d times in namespace %q", n, namespaceOf(obj)))
			seen[identity(obj)] = 0 // report each duplicate once
		}
	}
	return errs
}

// plain converts objects to the form a JSON decoder produces, leaving any object that does not
// convert as it is for StrictDecode to report.
func plain(objs []Object) []Object {
	out := make([]Object, len(objs))
	for i, obj := range objs {
		p, err := decodeAs[Object](obj)
		if err != nil {
			p = obj
		}
		out[i] = p
	}
	return out
}

// problemf formats a problem about obj with the "<Kind>/<name>: " prefix Check promises.
func problemf(obj Object, format string, args ...any) error {
	return fmt.Errorf("%s/%s: %s", kindOf(obj), nameOf(obj), fmt.Sprintf(format, args...))
}

func kindOf(obj Object) string       { return str(obj["kind"]) }
func apiVersionOf(obj Object) string { return str(obj["apiVersion"]) }
func nameOf(obj Object) string       { return str(Nested(obj, "metadata", "name")) }
func namespaceOf(obj Object) string  { return str(Nested(obj, "metadata", "namespace")) }

// gvk is the "apiVersion/kind" key under which kinds are registered, e.g. "apps/v1/Deployment".
func gvk(obj Object) string { return apiVersionOf(obj) + "/" + kindOf(obj) }

// identity names an object uniquely within a cluster.
func identity(obj Object) string {
	return gvk(obj) + "/" + namespaceOf(obj) + "/" + nameOf(obj)
}

// Nested returns the value at path in nested maps, or nil when any step is missing.
func Nested(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

// stringKeys returns the keys of a map value (e.g. a Secret's data) as a set.
func stringKeys(v any) map[string]bool {
	keys := map[string]bool{}
	m, _ := v.(map[string]any)
	for k := range m {
		keys[k] = true
	}
	return keys
}

func sortedKeys(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// decodeAs converts a JSON-like value into a typed one, case-sensitively like the API server but
// leniently: strictness is StrictDecode's job, the other checks just need the typed view.
func decodeAs[T any](v any) (T, error) {
	var out T
	data, err := json.Marshal(v)
	if err != nil {
		return out, err
	}
	err = kjson.UnmarshalCaseSensitivePreserveInts(data, &out)
	return out, err
}
