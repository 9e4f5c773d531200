package kubelet

import (
	"fmt"
	"maps"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// objectSource is what kubelet reads from the API server for env vars and volumes.
type objectSource interface {
	secret(name string) (*corev1.Secret, bool)
	configMap(name string) (*corev1.ConfigMap, bool)
}

// envInputs is everything kubelet consults to build one container's variables.
type envInputs struct {
	pod       *corev1.Pod // metadata, spec (with nodeName) and status.podIP(s)
	container *corev1.Container
	services  []*corev1.Service // the pod's namespace, with their cluster IPs
	objects   objectSource
	// allocatable is the node's capacity: the downward API reports it for an unset limit.
	allocatable corev1.ResourceList
}

// kubeletEnv builds a container's variables the way kubelet's makeEnvironmentVariables does:
// envFrom first, then env entries in order (a value's $(VAR) references see only what is already
// defined, then the service links; valueFrom results are never expanded), then the service links
// that no entry overrode. The image's ENV is not part of it: the runtime merges that later.
func kubeletEnv(in envInputs) (map[string]string, error) {
	links := map[string]string{}
	if in.pod.Spec.EnableServiceLinks == nil || *in.pod.Spec.EnableServiceLinks {
		links = serviceLinkEnv(in.services)
	}
	env, err := envFromSources(in.container.EnvFrom, in.objects)
	if err != nil {
		return nil, err
	}
	defined := lookupIn(env, links) // env grows below, so later entries see earlier ones
	for _, e := range in.container.Env {
		value, ok, err := envValue(in, e, defined)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = value
		}
	}
	for k, v := range links {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return env, nil
}

// envFromSources imports every key of the envFrom ConfigMaps and Secrets, with their prefix.
func envFromSources(sources []corev1.EnvFromSource, objects objectSource) (map[string]string, error) {
	env := map[string]string{}
	for _, from := range sources {
		switch {
		case from.ConfigMapRef != nil:
			cm, ok := objects.configMap(from.ConfigMapRef.Name)
			if !ok {
				if isTrue(from.ConfigMapRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom: ConfigMap %q not found", from.ConfigMapRef.Name)
			}
			for k, v := range cm.Data {
				env[from.Prefix+k] = v
			}
		case from.SecretRef != nil:
			secret, ok := objects.secret(from.SecretRef.Name)
			if !ok {
				if isTrue(from.SecretRef.Optional) {
					continue
				}
				return nil, fmt.Errorf("envFrom: Secret %q not found", from.SecretRef.Name)
			}
			for k, v := range secret.Data {
				env[from.Prefix+k] = string(v)
			}
		}
	}
	return env, nil
}

// envValue resolves one env entry. ok is false when an optional source is missing: kubelet then
// leaves the variable out.
func envValue(in envInputs, e corev1.EnvVar, defined func(string) (string, bool)) (value string, ok bool, err error) {
	if e.Value != "" || e.ValueFrom == nil {
		return expand(e.Value, defined), true, nil
	}
	from := e.ValueFrom
	switch {
	case from.FieldRef != nil:
		v, err := fieldRefValue(in.pod, from.FieldRef.FieldPath)
		return v, err == nil, err
	case from.ResourceFieldRef != nil:
		v, err := resourceFieldValue(in.pod, in.container, from.ResourceFieldRef, in.allocatable)
		return v, err == nil, err
	case from.ConfigMapKeyRef != nil:
		ref := from.ConfigMapKeyRef
		cm, found := in.objects.configMap(ref.Name)
		var data map[string]string
		if found {
			data = cm.Data
		}
		return keyValue("ConfigMap", ref.Name, ref.Key, found, isTrue(ref.Optional), func(k string) (string, bool) {
			v, ok := data[k]
			return v, ok
		})
	case from.SecretKeyRef != nil:
		ref := from.SecretKeyRef
		secret, found := in.objects.secret(ref.Name)
		return keyValue("Secret", ref.Name, ref.Key, found, isTrue(ref.Optional), func(k string) (string, bool) {
			v, ok := secret.Data[k]
			return string(v), ok
		})
	}
	return "", false, fmt.Errorf("unsupported valueFrom")
}

// keyValue reads key of a ConfigMap or Secret: a missing object or key is an error that keeps the
// container from starting, unless the reference is optional.
func keyValue(kind, name, key string, found, optional bool, get func(string) (string, bool)) (string, bool, error) {
	if !found {
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("%s %q not found", kind, name)
	}
	v, ok := get(key)
	if !ok && !optional {
		return "", false, fmt.Errorf("key %q not found in %s %q", key, kind, name)
	}
	return v, ok, nil
}

// fieldRefValue is the downward API for env vars. Paths this emulation cannot answer truthfully
// (the node's IP) are errors rather than a made-up value.
func fieldRefValue(pod *corev1.Pod, path string) (string, error) {
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.podIP":
		return pod.Status.PodIP, nil
	case "status.podIPs":
		var ips []string
		for _, ip := range pod.Status.PodIPs {
			ips = append(ips, ip.IP)
		}
		return strings.Join(ips, ","), nil
	}
	for prefix, values := range map[string]map[string]string{
		"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations,
	} {
		if key, ok := subscript(path, prefix); ok {
			return values[key], nil
		}
	}
	return "", fmt.Errorf("fieldRef %q is not emulated", path)
}

// subscript reads the key of a path such as metadata.labels['app'].
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok {
		return "", false
	}
	return strings.CutSuffix(rest, "']")
}

// resourceFieldValue is the downward API for resources: requests default to limits (API
// defaulting), unset limits report the node's allocatable (kubelet), and the value is divided by
// the divisor and rounded up.
func resourceFieldValue(pod *corev1.Pod, self *corev1.Container, ref *corev1.ResourceFieldSelector, allocatable corev1.ResourceList) (string, error) {
	c := self
	if ref.ContainerName != "" {
		all := slices.Concat(pod.Spec.InitContainers, pod.Spec.Containers)
		i := slices.IndexFunc(all, func(c corev1.Container) bool { return c.Name == ref.ContainerName })
		if i < 0 {
			return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
		}
		c = &all[i]
	}
	kind, name, _ := strings.Cut(ref.Resource, ".")
	resourceName := corev1.ResourceName(name)
	q, ok := c.Resources.Limits[resourceName]
	if kind == "requests" {
		if r, set := c.Resources.Requests[resourceName]; set || !ok {
			q = r
		}
	} else if !ok {
		q = allocatable[resourceName]
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	switch {
	case kind != "limits" && kind != "requests":
		return "", fmt.Errorf("resourceFieldRef %q is not emulated", ref.Resource)
	case resourceName == corev1.ResourceCPU:
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case resourceName == corev1.ResourceMemory || resourceName == corev1.ResourceEphemeralStorage:
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("resourceFieldRef %q is not emulated", ref.Resource)
}

// serviceLinkEnv is the Docker-links style variables kubelet defines for every Service with a
// cluster IP (headless Services get none).
func serviceLinkEnv(services []*corev1.Service) map[string]string {
	env := map[string]string{}
	for _, svc := range services {
		ip := svc.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(svc.Spec.Ports) == 0 {
			continue
		}
		prefix := envName(svc.Name)
		env[prefix+"_SERVICE_HOST"] = ip
		env[prefix+"_SERVICE_PORT"] = strconv.Itoa(int(svc.Spec.Ports[0].Port))
		for i, p := range svc.Spec.Ports {
			port := strconv.Itoa(int(p.Port))
			if p.Name != "" {
				env[prefix+"_SERVICE_PORT_"+envName(p.Name)] = port
			}
			protocol := string(p.Protocol)
			if protocol == "" {
				protocol = string(corev1.ProtocolTCP)
			}
			url := strings.ToLower(protocol) + "://" + net.JoinHostPort(ip, port)
			if i == 0 {
				env[prefix+"_PORT"] = url
			}
			portPrefix := prefix + "_PORT_" + port + "_" + strings.ToUpper(protocol)
			env[portPrefix] = url
			env[portPrefix+"_PROTO"] = strings.ToLower(protocol)
			env[portPrefix+"_PORT"] = port
			env[portPrefix+"_ADDR"] = ip
		}
	}
	return env
}

// envName is kubelet's makeEnvVariableName: upper case, dashes become underscores.
func envName(name string) string {
	return strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// defaultPath is the PATH of containerd's default spec, kept when the image sets none.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// processEnv is the environment the container runtime starts the process with: containerd's
// default PATH and HOSTNAME, overridden by the image's ENV, overridden by kubelet's variables;
// runc then adds HOME (the user's home, or /) when nothing set it. Sorted: order carries no meaning.
func processEnv(hostname string, image, kubelet map[string]string, home string) []string {
	env := map[string]string{"PATH": defaultPath, "HOSTNAME": hostname}
	maps.Copy(env, image)
	maps.Copy(env, kubelet)
	if _, set := env["HOME"]; !set {
		env["HOME"] = home
	}
	out := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		out = append(out, k+"="+env[k])
	}
	return out
}

// containerArgv is the process's argv: command and args with $(VAR) expanded from kubelet's
// variables; command replaces the image's ENTRYPOINT and drops its CMD, args replace CMD.
func containerArgv(c *corev1.Container, img Image, env map[string]string) ([]string, error) {
	defined := lookupIn(env)
	command, args := expandAll(c.Command, defined), expandAll(c.Args, defined)
	if len(command) == 0 {
		command = img.Entrypoint
		if len(args) == 0 {
			args = img.Cmd
		}
	}
	argv := slices.Concat(command, args)
	if len(argv) == 0 {
		return nil, fmt.Errorf("no command specified")
	}
	return argv, nil
}

// probeCommand is an exec probe's command as kubelet runs it: $(VAR) expanded from the literal
// `value` of the container's env entries only (a valueFrom entry counts as empty).
func probeCommand(c *corev1.Container, command []string) []string {
	literal := map[string]string{}
	for _, e := range c.Env {
		literal[e.Name] = e.Value
	}
	return expandAll(command, lookupIn(literal))
}

func expandAll(in []string, defined func(string) (string, bool)) []string {
	var out []string
	for _, s := range in {
		out = append(out, expand(s, defined))
	}
	return out
}

// lookupIn finds a variable in the first map that defines it.
func lookupIn(scopes ...map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		for _, s := range scopes {
			if v, ok := s[name]; ok {
				return v, true
			}
		}
		return "", false
	}
}

// expand replaces $(NAME) with its value, like kubelet's expansion package: "$$" is an escaped
// "$" (so "$$(A)" gives the literal "$(A)"), and an undefined or unterminated reference is kept
// as written.
func expand(s string, defined func(string) (string, bool)) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 == len(s) {
			b.WriteByte(s[i])
			continue
		}
		i++ // at the byte after "$"
		switch s[i] {
		case '$':
			b.WriteByte('$')
		case '(':
			end := strings.IndexByte(s[i:], ')')
			if end < 0 {
				b.WriteString("$(")
				continue
			}
			name := s[i+1 : i+end]
			if v, ok := defined(name); ok {
				b.WriteString(v)
			} else {
				b.WriteString("$(" + name + ")")
			}
			i += end
		default:
			b.WriteByte('$')
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isTrue(b *bool) bool { return b != nil && *b }
