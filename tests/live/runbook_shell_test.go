package live

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
	"sigs.k8s.io/yaml"

	"github.com/certctl-io/certctl-pulumi/tests"
	"github.com/certctl-io/certctl-pulumi/tests/kubelet"
)

// runbookBlock is the fenced block that follows `<!-- live: name -->` in a runbook: the text a
// user copies, run here as it is.
func runbookBlock(t *testing.T, file, name string) string {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(raw), "<!-- live: "+name+" -->\n```sh\n")
	require.True(t, ok, "%s has no block marked live: %s", file, name)
	block, _, ok := strings.Cut(after, "\n```\n")
	require.True(t, ok, "%s: block %s is not closed", file, name)
	return block
}

// runbookShell runs runbook blocks with a real shell interpreter (mvdan.cc/sh). Every command is
// the host's (aws, awk, sort, ...) except kubectl and pulumi, which act on the live deployment
// the way they would on a cluster and a stack; a kubectl verb the emulation does not know fails
// the block rather than being skipped.
type runbookShell struct {
	t   *testing.T
	d   *liveDeployment
	env []string
	// beforeScaleUp runs when the block scales the servers up again: the database as the
	// restore left it, before any server writes to it.
	beforeScaleUp func()
	// pods started with `kubectl apply`, and their first container.
	pods map[string]adhocPod
}

type adhocPod struct {
	pod       *kubelet.Pod
	container string
}

func newRunbookShell(t *testing.T, d *liveDeployment, env ...string) *runbookShell {
	return &runbookShell{t: t, d: d, env: append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, env...), pods: map[string]adhocPod{}}
}

// run runs a block and returns its output; a failing command fails the test.
func (sh *runbookShell) run(block string) string {
	t := sh.t
	t.Helper()
	file, err := syntax.NewParser().Parse(strings.NewReader(block), "runbook")
	require.NoError(t, err)
	var out bytes.Buffer
	runner, err := interp.New(
		interp.Env(expand.ListEnviron(sh.env...)),
		interp.StdIO(nil, &out, &out),
		interp.Params("-e", "-o", "pipefail"),
		interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
			return func(ctx context.Context, args []string) error {
				switch args[0] {
				case "kubectl":
					return sh.kubectl(ctx, args[1:])
				case "pulumi":
					return sh.pulumi(ctx, args[1:])
				}
				return next(ctx, args)
			}
		}),
	)
	require.NoError(t, err)
	require.NoError(t, runner.Run(context.Background(), file), "runbook block failed; its output:\n%s", out.String())
	return out.String()
}

func (sh *runbookShell) pulumi(ctx context.Context, args []string) error {
	if len(args) != 3 || args[0] != "stack" || args[1] != "output" {
		return fmt.Errorf("pulumi %v: only `pulumi stack output NAME` is emulated", args)
	}
	v, ok := sh.d.render.Outputs[args[2]]
	if !ok {
		return fmt.Errorf("no stack output %q", args[2])
	}
	_, err := fmt.Fprintln(interp.HandlerCtx(ctx).Stdout, v.Value)
	return err
}

func (sh *runbookShell) kubectl(ctx context.Context, args []string) error {
	hc := interp.HandlerCtx(ctx)
	var rest []string
	for i := 0; i < len(args); i++ {
		if args[i] == "-n" && i+1 < len(args) {
			if args[i+1] != liveNamespace {
				return fmt.Errorf("kubectl: namespace %q, the deployment is in %q", args[i+1], liveNamespace)
			}
			i++
			continue
		}
		rest = append(rest, args[i])
	}
	if len(rest) == 0 {
		return fmt.Errorf("kubectl: no verb")
	}
	verb, args := rest[0], rest[1:]
	// Every wait here is bounded by the emulation's own timeouts.
	args = slices.DeleteFunc(args, func(a string) bool { return strings.HasPrefix(a, "--timeout=") })
	switch {
	case verb == "apply" && len(args) == 2 && args[0] == "-f" && args[1] == "-":
		return sh.apply(hc.Stdin, hc.Stdout)
	case verb == "wait" && len(args) == 2 && args[0] == "--for=condition=Ready":
		p, err := sh.pod(strings.TrimPrefix(args[1], "pod/"))
		if err != nil {
			return err
		}
		p.pod.WaitReady(liveTimeout)
		return nil
	case verb == "wait" && len(args) == 4 && args[0] == "--for=delete" && args[1] == "pod" && args[2] == "-l" && strings.HasPrefix(args[3], "app.kubernetes.io/component=server"):
		if len(sh.d.servers) > 0 {
			return fmt.Errorf("kubectl wait: %d server pods still exist", len(sh.d.servers))
		}
		return nil
	case verb == "get" && strings.Join(args, " ") == "deployment certctl-server -o jsonpath={.spec.replicas}":
		_, err := fmt.Fprint(hc.Stdout, sh.d.replicas())
		return err
	case verb == "scale" && len(args) == 2 && args[0] == "deployment/certctl-server" && strings.HasPrefix(args[1], "--replicas="):
		n, err := strconv.Atoi(strings.TrimPrefix(args[1], "--replicas="))
		if err != nil {
			return err
		}
		sh.d.stopServers()
		if n > 0 {
			if sh.beforeScaleUp != nil {
				sh.beforeScaleUp()
			}
			sh.d.startServers(sh.t, n)
		}
		return nil
	case verb == "rollout" && len(args) >= 2 && args[0] == "status" && args[1] == "deployment/certctl-server":
		for _, p := range sh.d.servers {
			p.WaitReady(liveTimeout)
		}
		return nil
	case verb == "delete" && len(args) == 2 && args[0] == "pod":
		p, err := sh.pod(args[1])
		if err != nil {
			return err
		}
		p.pod.Stop()
		delete(sh.pods, args[1])
		return nil
	case verb == "exec":
		return sh.exec(hc, args)
	}
	return fmt.Errorf("kubectl %s: not emulated", strings.Join(rest, " "))
}

// exec is `kubectl exec [-i] POD [-c CONTAINER] -- COMMAND...`.
func (sh *runbookShell) exec(hc interp.HandlerContext, args []string) error {
	var stdin io.Reader
	container := ""
	var name string
	i := 0
	for ; i < len(args) && args[i] != "--"; i++ {
		switch {
		case args[i] == "-i":
			stdin = hc.Stdin
		case args[i] == "-c" && i+1 < len(args):
			container = args[i+1]
			i++
		case name == "":
			name = args[i]
		default:
			return fmt.Errorf("kubectl exec: unexpected %q", args[i])
		}
	}
	if i >= len(args)-1 {
		return fmt.Errorf("kubectl exec: no command after --")
	}
	p, err := sh.pod(name)
	if err != nil {
		return err
	}
	if container == "" {
		container = p.container
	}
	if err := p.pod.ExecStreams(container, stdin, hc.Stdout, hc.Stderr, args[i+1:]...); err != nil {
		fmt.Fprintf(hc.Stderr, "command terminated: %v\n", err)
		return interp.ExitStatus(1)
	}
	return nil
}

// apply starts the Pod manifest read from stdin.
func (sh *runbookShell) apply(stdin io.Reader, stdout io.Writer) error {
	raw, err := io.ReadAll(stdin)
	if err != nil {
		return err
	}
	var obj map[string]any
	if err := yaml.Unmarshal(raw, &obj); err != nil {
		return err
	}
	if obj["kind"] != "Pod" {
		return fmt.Errorf("kubectl apply: only a Pod is emulated, got %v", obj["kind"])
	}
	name := tests.Path(obj, "metadata", "name").(string)
	container := tests.Path(obj, "spec", "containers", 0, "name").(string)
	pod := sh.d.cluster.StartPod(name, map[string]any{"metadata": obj["metadata"], "spec": obj["spec"]}, kubelet.PodOptions{})
	sh.pods[name] = adhocPod{pod, container}
	_, err = fmt.Fprintf(stdout, "pod/%s created\n", name)
	return err
}

// pod finds a pod by name: one the block applied, or the database's.
func (sh *runbookShell) pod(name string) (adhocPod, error) {
	if p, ok := sh.pods[name]; ok {
		return p, nil
	}
	if name == "certctl-postgres-0" && sh.d.postgres != nil {
		return adhocPod{sh.d.postgres, "postgres"}, nil
	}
	return adhocPod{}, fmt.Errorf("kubectl: pod %q not found", name)
}
