package config

import (
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
)

const decodeFix = "check the key names against the README's config reference"

// Load reads the certctl config namespace over Defaults(): each top-level key of Config
// ("certctl:server", "certctl:namespace", ...) is decoded over its default, so a stack file
// only names what it changes. Unknown keys, wrong types and secrets given in plain config are
// reported together as a *ValidationError. Load does not call Validate.
func Load(ctx *pulumi.Context) (Config, error) {
	cfg := config.New(ctx, Namespace)
	p := &problems{}
	doc := Document{
		Values: map[string]string{},
		Secret: func(path string) bool {
			top, _, _ := strings.Cut(path, ".")
			return ctx.IsConfigSecret(Namespace + ":" + top)
		},
		SecretFix: func(path string) string {
			return "store it encrypted with: pulumi config set --secret --path " + path + " <value>"
		},
	}
	for _, key := range TopLevelKeys() {
		raw, err := cfg.Try(key)
		if errors.Is(err, config.ErrMissingVar) {
			continue
		}
		if err != nil {
			p.add(key, err.Error(), decodeFix)
			continue
		}
		doc.Values[key] = raw
	}
	c := decode(p, doc, engineConfigKeys())
	if err := p.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Document is a configuration document by top-level key: what Load reads from the stack's
// config, and what the package's component (provider/) is given as inputs.
type Document struct {
	// Values are the raw values by top-level key ("server", "fleetSize"): strings and booleans
	// as text, everything else as JSON, as the engine passes structured config.
	Values map[string]string
	// Secret reports whether the value at a Secret setting's key path was given as a secret.
	Secret func(path string) bool
	// SecretFix says how to give the setting at that key path as a secret.
	SecretFix func(path string) string
}

// Decode is Load for a Document: the same defaults, merging and refusals, a key of Values that
// names no setting included.
func Decode(doc Document) (Config, error) {
	p := &problems{}
	keys := make([]string, 0, len(doc.Values))
	for k := range doc.Values {
		keys = append(keys, Namespace+":"+k)
	}
	slices.Sort(keys)
	c := decode(p, doc, keys)
	if err := p.err(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// TopLevelKeys are the top-level keys of Config, in its order.
func TopLevelKeys() []string {
	t := reflect.TypeFor[Config]()
	keys := make([]string, t.NumField())
	for i := range keys {
		keys[i] = jsonName(t.Field(i))
	}
	return keys
}

// decode decodes doc over the defaults of its fleet size; given are every key passed
// ("certctl:<key>"), checked for names that are no setting.
func decode(p *problems, doc Document, given []string) Config {
	// The fleet size chooses the defaults every other key is decoded over.
	var fleetSize string
	if raw, ok := doc.Values["fleetSize"]; ok {
		decodeInto(p, "fleetSize", raw, reflect.ValueOf(&fleetSize).Elem())
	}
	c := Sized(cmp.Or(fleetSize, FleetSmall))
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		key := jsonName(v.Type().Field(i))
		if raw, ok := doc.Values[key]; ok {
			decodeInto(p, key, raw, v.Field(i))
		}
	}
	pdb := &c.PodDisruptionBudget
	if raw, ok := doc.Values["podDisruptionBudget"]; ok && onlyMaxUnavailable(raw) {
		// The chart's default minAvailable 1 would otherwise conflict with the user's choice.
		pdb.MinAvailable = nil
	}
	// Decoding into the default's pointer keeps its stale IntVal next to a new StrVal.
	pdb.MinAvailable, pdb.MaxUnavailable = cleanIntOrString(pdb.MinAvailable), cleanIntOrString(pdb.MaxUnavailable)
	if r := c.Agent.UpdateStrategy.RollingUpdate; r != nil {
		r.MaxUnavailable, r.MaxSurge = cleanIntOrString(r.MaxUnavailable), cleanIntOrString(r.MaxSurge)
	}
	unknownTopLevelKeys(p, given, v.Type())
	walkSecrets(reflect.ValueOf(c), "", func(path string, s Secret) {
		if s.IsSet() && !doc.Secret(path) {
			p.add(path, "a secret was given in plain config", doc.SecretFix(path))
		}
	})
	return c
}

// ProgramKeys are the keys of the certctl namespace the program reads outside Config.
var ProgramKeys = []string{"renderYamlToDirectory"}

// engineConfigKeys are every config key the engine passed to the program. The Pulumi CLI hands a
// Go program its whole configuration as JSON in PULUMI_CONFIG (pulumi.EnvConfig), which is also
// where the SDK reads it; the SDK offers no way to list the keys.
func engineConfigKeys() []string {
	var all map[string]any
	if json.Unmarshal([]byte(os.Getenv(pulumi.EnvConfig)), &all) != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(all))
}

// unknownTopLevelKeys refuses certctl keys that name no setting: the CLI accepts any key, and a
// misspelled one (`pulumi config set --path sever.replicas 3`) would otherwise change nothing.
func unknownTopLevelKeys(p *problems, keys []string, configType reflect.Type) {
	known := slices.Clone(ProgramKeys)
	for i := range configType.NumField() {
		known = append(known, jsonName(configType.Field(i)))
	}
	for _, full := range keys {
		key, ok := strings.CutPrefix(full, Namespace+":")
		if !ok || slices.Contains(known, key) {
			continue
		}
		fix := "remove it: pulumi config rm " + key
		if near := closest(key, known); near != "" {
			fix = "did you mean " + near + "? Move the value there and run: pulumi config rm " + key
		}
		p.add(key, "is not a setting of this program", fix)
	}
}

// closest is the known key within two edits of key, if any.
func closest(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(key), strings.ToLower(k)); d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// decodeInto sets a top-level field from its raw config string: strings and bools as they
// come, everything else as JSON over the default value (objects merge key by key).
func decodeInto(p *problems, key, raw string, field reflect.Value) {
	switch field.Kind() {
	case reflect.String:
		field.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			p.addf(key, "use true or false", "%q is not a boolean", raw)
			return
		}
		field.SetBool(b)
	default:
		dec := json.NewDecoder(strings.NewReader(raw))
		dec.DisallowUnknownFields()
		err := dec.Decode(field.Addr().Interface())
		if err == nil {
			if _, tokErr := dec.Token(); tokErr != io.EOF {
				err = errors.New("unexpected data after the value")
			}
		}
		if err != nil {
			decodeProblems(p, key, raw, field.Type(), err)
		}
	}
}

// decodeProblems turns a decode error into problems on the exact keys the user wrote: every
// unknown key in the value, and every value of the wrong type or format (encoding/json stops at
// the first, and names Go's struct fields, not the keys).
func decodeProblems(p *problems, key, raw string, t reflect.Type, err error) {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber() // numbers re-encode exactly when a value is decoded on its own
	var doc any
	if dec.Decode(&doc) != nil || dec.More() {
		p.add(key, err.Error(), decodeFix)
		return
	}
	before := p.len()
	for _, k := range unknownKeys(doc, t, key) {
		p.add(k, "unknown key", decodeFix)
	}
	typeProblems(p, doc, t, key)
	if p.len() == before {
		p.add(key, err.Error(), decodeFix)
	}
}

// decodedAsType is implemented by types with their own UnmarshalJSON whose written shape is a
// struct of this package: typeProblems walks into that shape instead of stopping at the type.
type decodedAsType interface{ decodedAs() reflect.Type }

var decodedAsIface = reflect.TypeFor[decodedAsType]()

// typeProblems reports each value in doc that type t cannot take, at its key path: objects and
// lists are walked, anything else (and any type with its own UnmarshalJSON) is decoded alone.
// Unknown keys are unknownKeys' to report; null is accepted everywhere, as encoding/json does.
func typeProblems(p *problems, doc any, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if doc == nil {
		return
	}
	if reflect.PointerTo(t).Implements(decodedAsIface) {
		t = reflect.New(t).Interface().(decodedAsType).decodedAs()
	}
	walk := !reflect.PointerTo(t).Implements(unmarshalerType)
	switch {
	case walk && t.Kind() == reflect.Struct:
		object, ok := doc.(map[string]any)
		if !ok {
			wrongType(p, path, doc, t)
			return
		}
		fields := jsonFields(t)
		for _, k := range sortedKeys(object) {
			if ft, ok := fieldNamed(fields, k); ok {
				typeProblems(p, object[k], ft, child(path, k))
			}
		}
	case walk && t.Kind() == reflect.Map:
		object, ok := doc.(map[string]any)
		if !ok {
			wrongType(p, path, doc, t)
			return
		}
		for _, k := range sortedKeys(object) {
			typeProblems(p, object[k], t.Elem(), child(path, k))
		}
	case walk && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) && t.Elem().Kind() != reflect.Uint8:
		list, ok := doc.([]any)
		if !ok {
			wrongType(p, path, doc, t)
			return
		}
		for i, e := range list {
			typeProblems(p, e, t.Elem(), index(path, i))
		}
	default:
		b, _ := json.Marshal(doc)
		if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				wrongType(p, path, doc, t)
				return
			}
			fix := "check " + path + " against the README's config reference"
			if t == reflect.TypeFor[resource.Quantity]() || t == reflect.TypeFor[quantityText]() {
				fix = `use a quantity such as "500m", "1Gi" or 2`
			}
			p.addf(path, fix, "%s is refused: %s", b, strings.TrimPrefix(err.Error(), "json: "))
		}
	}
}

// wrongType reports a value of the wrong JSON type, in the user's terms.
func wrongType(p *problems, path string, doc any, t reflect.Type) {
	want := jsonTypeName(t)
	p.addf(path, "use "+want+" (see the README's config reference)", "is %s, where %s is expected", describeJSON(doc), want)
}

// jsonTypeName names what a Go type takes in JSON.
func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	default:
		return "an object"
	}
}

// describeJSON says what a decoded JSON value is: the number 5, the string "x", a list, ...
func describeJSON(doc any) string {
	switch v := doc.(type) {
	case json.Number:
		return "the number " + v.String()
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		return "a list"
	default:
		return "an object"
	}
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

// unknownKeys returns the paths of the object keys in doc that type t has no field for,
// matching names the way encoding/json does (case-insensitively).
func unknownKeys(doc any, t reflect.Type, path string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(decodedAsIface) {
		t = reflect.New(t).Interface().(decodedAsType).decodedAs()
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return nil
	}
	var out []string
	switch d := doc.(type) {
	case map[string]any:
		switch t.Kind() {
		case reflect.Struct:
			fields := jsonFields(t)
			for _, k := range sortedKeys(d) {
				ft, ok := fieldNamed(fields, k)
				if !ok {
					out = append(out, child(path, k))
					continue
				}
				out = append(out, unknownKeys(d[k], ft, child(path, k))...)
			}
		case reflect.Map:
			for _, k := range sortedKeys(d) {
				out = append(out, unknownKeys(d[k], t.Elem(), child(path, k))...)
			}
		}
	case []any:
		if t.Kind() == reflect.Slice || t.Kind() == reflect.Array {
			for i, e := range d {
				out = append(out, unknownKeys(e, t.Elem(), index(path, i))...)
			}
		}
	}
	return out
}

// fieldNamed is the type of the field a JSON object key sets, matched as encoding/json does:
// exactly, else case-insensitively.
func fieldNamed(fields map[string]reflect.Type, key string) (reflect.Type, bool) {
	if t, ok := fields[key]; ok {
		return t, true
	}
	for name, t := range fields {
		if strings.EqualFold(name, key) {
			return t, true
		}
	}
	return nil, false
}

// jsonFields maps the JSON names of a struct's fields to their types, promoting the fields of
// embedded structs as encoding/json does (Kubernetes types inline VolumeSource this way).
func jsonFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if f.Anonymous && tag == "" && ft.Kind() == reflect.Struct {
			for name, typ := range jsonFields(ft) {
				if _, shadowed := out[name]; !shadowed {
					out[name] = typ
				}
			}
			continue
		}
		if tag == "" {
			tag = f.Name
		}
		out[tag] = f.Type
	}
	return out
}

func jsonName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

// onlyMaxUnavailable reports whether a podDisruptionBudget object sets maxUnavailable and not
// minAvailable.
func onlyMaxUnavailable(raw string) bool {
	var keys map[string]json.RawMessage
	if json.Unmarshal([]byte(raw), &keys) != nil {
		return false
	}
	maxU, hasMax := keys["maxUnavailable"]
	_, hasMin := keys["minAvailable"]
	return hasMax && string(maxU) != "null" && !hasMin
}

func cleanIntOrString(v *intstr.IntOrString) *intstr.IntOrString {
	switch {
	case v == nil:
		return nil
	case v.Type == intstr.Int:
		return ptr(intstr.FromInt32(v.IntVal))
	default:
		return ptr(intstr.FromString(v.StrVal))
	}
}

var secretType = reflect.TypeFor[Secret]()

// walkSecrets calls fn with the key path of every Secret field under v (a struct of this
// package), set or not.
func walkSecrets(v reflect.Value, path string, fn func(path string, s Secret)) {
	t := v.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			walkSecrets(v.Field(i), path, fn) // promoted fields (Workload)
			continue
		}
		name := jsonName(f)
		if name == "" || name == "-" {
			continue
		}
		if path != "" {
			name = path + "." + name
		}
		switch {
		case f.Type == secretType:
			fn(name, v.Field(i).Interface().(Secret))
		case f.Type.Kind() == reflect.Struct && f.Type.PkgPath() == secretType.PkgPath():
			walkSecrets(v.Field(i), name, fn)
		}
	}
}

// SecretPaths lists the key path of every Secret-typed setting ("server.auth.apiKey", ...):
// the keys that must be set with `pulumi config set --secret`.
func SecretPaths() []string {
	var out []string
	walkSecrets(reflect.ValueOf(Config{}), "", func(path string, _ Secret) { out = append(out, path) })
	return out
}

// SettingPaths lists every config key path ("server.auth.apiKey"), parents included, in the
// order of the Config types.
func SettingPaths() []string {
	var out []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type, prefix) // promoted fields (Workload)
				continue
			}
			path := prefix + jsonName(f)
			out = append(out, path)
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() && ft != secretType {
				walk(ft, path+".")
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	return out
}
