package config

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Namespace is the Pulumi config namespace of every key ("certctl:server", ...).
const Namespace = "certctl"

// Problem is one refused setting. Key is the full config key ("certctl:server.tls.existingSecret");
// Message reads "<what is wrong>; <how to fix it>" and never contains a secret value.
type Problem struct {
	Key     string
	Message string
}

func (p Problem) String() string { return p.Key + ": " + p.Message }

// ValidationError lists every problem found, in check order, so a user fixes them in one pass.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Keys returns the key of every problem, in order (a key may repeat).
func (e *ValidationError) Keys() []string {
	keys := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		keys[i] = p.Key
	}
	return keys
}

// problems collects Problems; key paths are given without the "certctl:" prefix.
type problems struct {
	list []Problem
}

func (p *problems) add(key, what, fix string) {
	p.list = append(p.list, Problem{Key: Namespace + ":" + key, Message: what + "; " + fix})
}

func (p *problems) addf(key, fix, format string, args ...any) {
	p.add(key, fmt.Sprintf(format, args...), fix)
}

func (p *problems) len() int { return len(p.list) }

func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	return &ValidationError{Problems: p.list}
}

// child is the path of a map entry: key.name for plain names, key["a.b/c"] otherwise, both of
// which `pulumi config set --path` understands.
func child(key, name string) string {
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
			return fmt.Sprintf("%s[%q]", key, name)
		}
	}
	if name == "" {
		return key + `[""]`
	}
	return key + "." + name
}

func index(key string, i int) string { return fmt.Sprintf("%s[%d]", key, i) }

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
