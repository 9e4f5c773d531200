package tests

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumiconfig "github.com/pulumi/pulumi/sdk/v3/go/common/resource/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/config"
)

const (
	// chartValueKeys lists the leaves of the newest chart's values.yaml, one dotted path a line.
	chartValueKeys = "../../shared/reference/chart-value-keys.txt"
	migrationDoc   = "../docs/helm-values-migration.md"
)

// chartKeys reads the chart's value keys; ok is false when the list is not beside the repository
// (outside CI the caller skips, in CI it fails).
func chartKeys(t *testing.T) (keys []string, ok bool) {
	t.Helper()
	raw, err := os.ReadFile(chartValueKeys)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("reading the chart's value keys: %v", err)
		}
		return nil, false
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			keys = append(keys, line)
		}
	}
	return keys, true
}

// migrationRow is one row of the migration tables: chart key, config key cell, notes.
type migrationRow struct {
	chartKey, configCell, notes, line string
}

// migrationRows parses every table of the migration document whose header is
// `| chart key | config key | notes |`.
func migrationRows(t *testing.T) []migrationRow {
	t.Helper()
	raw, err := os.ReadFile(migrationDoc)
	require.NoError(t, err)
	var rows []migrationRow
	inTable := false
	for _, line := range strings.Split(string(raw), "\n") {
		if !strings.HasPrefix(line, "|") {
			inTable = false
			continue
		}
		cells := tableCells(line)
		switch {
		case !inTable:
			inTable = slices.Equal(cells, []string{"chart key", "config key", "notes"})
			continue
		case strings.HasPrefix(cells[0], "---"):
			continue
		}
		if !assert.Len(t, cells, 3, "migration row %q", line) {
			continue
		}
		rows = append(rows, migrationRow{chartKey: cells[0], configCell: cells[1], notes: cells[2], line: line})
	}
	require.NotEmpty(t, rows, "%s has no `| chart key | config key | notes |` table", migrationDoc)
	return rows
}

// TestValuesMigrationCoversEveryChartKey: every key of the chart's values has its own row, in
// the key list's order, and no row names a key the chart does not have.
func TestValuesMigrationCoversEveryChartKey(t *testing.T) {
	keys, ok := chartKeys(t)
	if !ok {
		t.Skipf("%s not found; CI has it", chartValueKeys)
	}
	rows := migrationRows(t)
	position := map[string]int{}
	for i, row := range rows {
		key := strings.Trim(row.chartKey, "`")
		if row.chartKey != "`"+key+"`" || !slices.Contains(keys, key) {
			t.Errorf("%s: the first cell %s is not a chart key in backticks (see %s)", migrationDoc, row.chartKey, chartValueKeys)
			continue
		}
		if j, dup := position[key]; dup {
			t.Errorf("%s: %s has two rows (%d and %d)", migrationDoc, key, j+1, i+1)
			continue
		}
		position[key] = i
	}
	last := -1
	for _, key := range keys {
		i, found := position[key]
		if !assert.True(t, found, "%s has no row for the chart key `%s`", migrationDoc, key) {
			continue
		}
		assert.Greater(t, i, last, "%s: the row of `%s` is out of the key list's order", migrationDoc, key)
		last = max(last, i)
	}
}

// TestValuesMigrationConfigKeysExist: every config key a row names is a key of this program,
// documented in the README's reference; a row without one ("—") says why.
func TestValuesMigrationConfigKeysExist(t *testing.T) {
	documented := readmeReference(t)
	for _, row := range migrationRows(t) {
		if row.configCell == "—" {
			assert.NotEmpty(t, row.notes, "%s: the row of %s has no config key and must say why", migrationDoc, row.chartKey)
			continue
		}
		named := backticked(row.configCell)
		if !assert.NotEmpty(t, named, "%s: the row of %s names no config key in backticks and is not \"—\"", migrationDoc, row.chartKey) {
			continue
		}
		for _, key := range named {
			assert.NoError(t, checkConfigKey(documented, key), "%s: the row of %s", migrationDoc, row.chartKey)
		}
	}
}

// checkConfigKey says why path (as given to `pulumi config set --path`) is not a key of this
// program: it must resolve in config.Config, through map entries, list indexes and the fields of
// Kubernetes objects, and the README's reference must document it or the map, list or object it
// lies in.
func checkConfigKey(documented []documentedKey, path string) error {
	segments, err := resource.ParsePropertyPathStrict(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	var names []string
	t := reflect.TypeFor[config.Config]()
	for _, seg := range segments {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		switch seg := seg.(type) {
		case int:
			if t.Kind() != reflect.Slice {
				return fmt.Errorf("%s: [%d] indexes %s, which is not a list", path, seg, t)
			}
			t = t.Elem()
			continue
		case string:
			names = append(names, seg)
			switch {
			case t.Kind() == reflect.Map:
				t = t.Elem()
			case t.Kind() == reflect.Struct && t != reflect.TypeFor[config.Secret]():
				f, ok := jsonField(t, seg)
				if !ok {
					return fmt.Errorf("%s: %s has no key %q", path, t, seg)
				}
				t = f
			default:
				return fmt.Errorf("%s: %q is below %s, which has no keys", path, seg, t)
			}
		}
	}
	key := strings.Join(names, ".")
	if slices.Contains(config.ProgramKeys, key) {
		return nil
	}
	for _, d := range documented {
		prefix, wildcard := strings.CutSuffix(d.key, ".*")
		if d.key == key || strings.HasPrefix(key, d.key+".") || wildcard && strings.HasPrefix(key, prefix+".") {
			return nil
		}
	}
	return fmt.Errorf("%s is not in the README's configuration reference", path)
}

// jsonField finds a struct field by its JSON name, through embedded structs as encoding/json does.
func jsonField(t reflect.Type, name string) (reflect.Type, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Anonymous && tag == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if found, ok := jsonField(ft, name); ok {
				return found, true
			}
			continue
		}
		if tag == name {
			return f.Type, true
		}
	}
	return nil, false
}

// fencedBlock returns the first ```lang block after heading in text.
func fencedBlock(t *testing.T, text, heading, lang string) string {
	t.Helper()
	_, section, ok := strings.Cut(text, "\n"+heading+"\n")
	require.True(t, ok, "%s has no %q section", migrationDoc, heading)
	_, block, ok := strings.Cut(section, "\n```"+lang+"\n")
	require.True(t, ok, "%s: %q has no ```%s block", migrationDoc, heading, lang)
	block, _, ok = strings.Cut(block, "\n```\n")
	require.True(t, ok, "%s: the ```%s block of %q is not closed", migrationDoc, lang, heading)
	return block
}

// configSet is one `pulumi config set` command of the worked example.
type configSet struct {
	path, value, typ string
	secret, isPath   bool
}

// configSets parses the `pulumi config set` commands of a shell block as a shell would.
func configSets(t *testing.T, block string) []configSet {
	t.Helper()
	file, err := syntax.NewParser().Parse(strings.NewReader(block), "worked-example.sh")
	require.NoError(t, err)
	var sets []configSet
	syntax.Walk(file, func(node syntax.Node) bool {
		call, ok := node.(*syntax.CallExpr)
		if !ok {
			return true
		}
		var args []string
		for _, w := range call.Args {
			s, err := expand.Literal(nil, w)
			require.NoError(t, err)
			args = append(args, s)
		}
		if len(args) < 3 || args[0] != "pulumi" || args[1] != "config" || args[2] != "set" {
			return true
		}
		var set configSet
		var positional []string
		for i := 3; i < len(args); i++ {
			switch args[i] {
			case "--path":
				set.isPath = true
			case "--secret":
				set.secret = true
			case "--type":
				i++
				require.Less(t, i, len(args), "--type without a value in %v", args)
				set.typ = args[i]
			default:
				require.False(t, strings.HasPrefix(args[i], "-"), "the worked example uses a flag the test does not know: %v", args)
				positional = append(positional, args[i])
			}
		}
		require.Len(t, positional, 2, "want `pulumi config set [flags] KEY VALUE`, got %v", args)
		set.path, set.value = positional[0], positional[1]
		sets = append(sets, set)
		return true
	})
	return sets
}

// plainDecrypter hands back a "ciphertext" as it is: the test stores secrets unencrypted.
type plainDecrypter struct{}

func (plainDecrypter) DecryptValue(_ context.Context, ciphertext string) (string, error) {
	return ciphertext, nil
}

func (d plainDecrypter) BatchDecrypt(ctx context.Context, ciphertexts []string) ([]string, error) {
	return pulumiconfig.DefaultBatchDecrypt(ctx, d, ciphertexts)
}

// stackFromCommands applies the commands with the Pulumi SDK's own config map, as the CLI does
// (--path typing: true/false become booleans and integers numbers unless --type says otherwise;
// secrets stored secure), and returns the configuration the engine would pass to the program.
func stackFromCommands(t *testing.T, sets []configSet) StackConfig {
	t.Helper()
	types := map[string]pulumiconfig.Type{
		"string": pulumiconfig.TypeString, "int": pulumiconfig.TypeInt,
		"float": pulumiconfig.TypeFloat, "bool": pulumiconfig.TypeBool,
	}
	m := pulumiconfig.Map{}
	for _, s := range sets {
		var v pulumiconfig.Value
		switch {
		case s.secret:
			v = pulumiconfig.NewSecureValue(s.value)
		case s.typ != "":
			typ, ok := types[s.typ]
			require.True(t, ok, "--type %s", s.typ)
			v = pulumiconfig.NewTypedValue(s.value, typ)
		default:
			v = pulumiconfig.NewValue(s.value)
		}
		require.NoError(t, m.Set(pulumiconfig.MustMakeKey(config.Namespace, s.path), v, s.isPath), "pulumi config set %s", s.path)
	}
	plain, err := m.Decrypt(plainDecrypter{})
	require.NoError(t, err)
	sc := StackConfig{values: map[string]string{}}
	for k, v := range plain {
		sc.values[k.String()] = v
	}
	for _, k := range m.SecureKeys() {
		sc.secrets = append(sc.secrets, k.String())
	}
	return withProjectDefaults(t, sc)
}

// chartLeaves are the paths of a values file's leaves, stopping at keys the chart lists as leaves
// (maps and lists such as ingress.hosts); a path that is neither is returned as it is.
func chartLeaves(v any, path string, keys []string, out *[]string) {
	if m, ok := v.(map[string]any); ok && !slices.Contains(keys, path) {
		for k, child := range m {
			chartLeaves(child, strings.TrimPrefix(path+"."+k, "."), keys, out)
		}
		return
	}
	*out = append(*out, path)
}

// TestValuesMigrationWorkedExample: the worked example's values file uses chart keys only, and
// its `pulumi config set` commands, applied as the CLI applies them, set documented keys, secrets
// with --secret, and deploy under mocks.
func TestValuesMigrationWorkedExample(t *testing.T) {
	raw, err := os.ReadFile(migrationDoc)
	require.NoError(t, err)
	text := string(raw)

	var values map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(fencedBlock(t, text, "## Worked example", "yaml")), &values))
	if keys, ok := chartKeys(t); ok {
		var leaves []string
		chartLeaves(values, "", keys, &leaves)
		for _, leaf := range leaves {
			assert.True(t, slices.Contains(keys, leaf), "the worked example's values.yaml sets %s, which is not a chart key", leaf)
		}
	}

	sets := configSets(t, fencedBlock(t, text, "## Worked example", "sh"))
	require.GreaterOrEqual(t, len(sets), 25, "the worked example's commands were not found")
	documented := readmeReference(t)
	secretPaths := config.SecretPaths()
	for _, s := range sets {
		assert.True(t, s.isPath, "pulumi config set %s: the worked example uses --path throughout", s.path)
		require.NoError(t, checkConfigKey(documented, s.path), "the worked example")
		assert.Equal(t, slices.Contains(secretPaths, s.path), s.secret, "pulumi config set %s: --secret exactly on secrets", s.path)
	}

	r, err := run(t, stackFromCommands(t, sets))
	require.NoError(t, err, "the worked example does not deploy")
	assert.NotEmpty(t, r.KubernetesObjects())
}
