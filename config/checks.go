package config

import (
	"fmt"
	"math"
	"net/mail"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/opencontainers/go-digest"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Shared checks. Each takes the key path of the value it checks and reports on it (or a child).

func atLeast[T ~int | ~int32 | ~int64](p *problems, key string, v, minimum T) {
	if v < minimum {
		p.addf(key, fmt.Sprintf("set it to %d or more", minimum), "is %d, below the minimum of %d", v, minimum)
	}
}

func checkPort(p *problems, key string, port int) {
	if port < 1 || port > 65535 {
		p.addf(key, "use a port between 1 and 65535", "port %d is out of range", port)
	}
}

func oneOf(p *problems, key, v string, allowed ...string) bool {
	if slices.Contains(allowed, v) {
		return true
	}
	p.addf(key, "use one of: "+strings.Join(allowed, ", "), "%q is not supported", v)
	return false
}

// joinErrs joins apimachinery's messages without their "(e.g. ..., regex used ...)" tails,
// which repeat what the fix says.
func joinErrs(errs []string) string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i], _, _ = strings.Cut(e, " (e.g.")
	}
	return strings.Join(out, ", and ")
}

// nameRule is a Kubernetes name format from k8s.io/apimachinery/pkg/util/validation.
type nameRule struct {
	check func(string) []string
	what  string
	fix   string
}

var (
	dnsLabel = nameRule{validation.IsDNS1123Label, "DNS-1123 label",
		"use at most 63 lowercase letters, digits or '-', starting and ending with a letter or digit"}
	dnsSubdomain = nameRule{validation.IsDNS1123Subdomain, "DNS-1123 subdomain",
		"use at most 253 lowercase letters, digits, '-' or '.', starting and ending with a letter or digit"}
	secretKey = nameRule{validation.IsConfigMapKey, "Secret key",
		"use letters, digits, '-', '_' or '.'"}
)

// checkName refuses an empty or malformed name and reports whether it is valid.
func checkName(p *problems, key, v string, rule nameRule) bool {
	if v == "" {
		p.add(key, "is empty", "set it to a "+rule.what)
		return false
	}
	if errs := rule.check(v); len(errs) > 0 {
		p.addf(key, rule.fix, "%q is not a valid %s: %s", v, rule.what, joinErrs(errs))
		return false
	}
	return true
}

func checkOptionalName(p *problems, key, v string, rule nameRule) {
	if v != "" {
		checkName(p, key, v, rule)
	}
}

// checkHost accepts a DNS name, optionally a wildcard ("*.example.com").
func checkHost(p *problems, key, host string) {
	if errs := validation.IsDNS1123Subdomain(strings.TrimPrefix(host, "*.")); len(errs) > 0 {
		p.addf(key, `use a lowercase DNS name such as "certctl.example.com" or "*.example.com"`,
			"%q is not a valid host name: %s", host, joinErrs(errs))
	}
}

func checkMetaKey(p *problems, key, k string) bool {
	if errs := validation.IsQualifiedName(k); len(errs) > 0 {
		p.addf(child(key, k), `use a qualified name such as "team" or "example.com/team"`,
			"key %q is not a valid qualified name: %s", k, joinErrs(errs))
		return false
	}
	return true
}

func checkLabels(p *problems, key string, labels map[string]string) {
	for _, k := range sortedKeys(labels) {
		if !checkMetaKey(p, key, k) {
			continue
		}
		if errs := validation.IsValidLabelValue(labels[k]); len(errs) > 0 {
			p.addf(child(key, k), "use at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
				"label value %q is invalid: %s", labels[k], joinErrs(errs))
		}
	}
}

func checkAnnotations(p *problems, key string, annotations map[string]string) {
	for _, k := range sortedKeys(annotations) {
		checkMetaKey(p, key, k)
	}
}

// resourceNames are the resources a container may request here (no extended resources).
var resourceNames = []string{"cpu", "memory", "ephemeral-storage"}

// checkWorkload checks a section's shared workload keys.
func checkWorkload(p *problems, section string, w Workload) {
	checkImage(p, section+".image", w.Image)
	checkResources(p, section+".resources", w.Resources)
	checkSecurityContext(p, section+".securityContext", w.SecurityContext)
	checkPlacement(p, section, w)
}

// checkWorkloadOverride checks a section whose unset workload keys take another section's
// (whose image is baseImage); what it does not set is checked where it is set.
func checkWorkloadOverride(p *problems, section string, w Workload, baseImage Image) {
	if w.Image != (Image{}) {
		checkImage(p, section+".image", w.Image.over(baseImage))
	}
	checkResources(p, section+".resources", w.Resources)
	if !reflect.ValueOf(w.SecurityContext).IsZero() {
		checkSecurityContext(p, section+".securityContext", w.SecurityContext)
	}
	checkPlacement(p, section, w)
}

// checkPlacement checks where a section's pods go and their annotations.
func checkPlacement(p *problems, section string, w Workload) {
	checkLabels(p, section+".nodeSelector", w.NodeSelector)
	checkTolerations(p, section+".tolerations", w.Tolerations)
	checkAnnotations(p, section+".podAnnotations", w.PodAnnotations)
	checkAffinity(p, section+".affinity", w.Affinity)
	for i, c := range w.TopologySpreadConstraints {
		k := index(section+".topologySpreadConstraints", i)
		if c.MaxSkew < 1 {
			p.addf(k+".maxSkew", "set it to 1 or more", "%d is below the minimum skew of 1", c.MaxSkew)
		}
		if c.TopologyKey == "" {
			p.add(k+".topologyKey", "is empty", `set the node label to spread over, e.g. "topology.kubernetes.io/zone"`)
		}
		oneOf(p, k+".whenUnsatisfiable", string(c.WhenUnsatisfiable), string(corev1.DoNotSchedule), string(corev1.ScheduleAnyway))
	}
}

func checkResources(p *problems, key string, r Resources) {
	requests := quantities(p, key+".requests", r.Requests)
	limits := quantities(p, key+".limits", r.Limits)
	for _, name := range resourceNames {
		req, okReq := requests[name]
		lim, okLim := limits[name]
		if okReq && okLim && req.Cmp(lim) > 0 {
			p.addf(child(key+".requests", name), fmt.Sprintf("lower the request or raise %s.limits.%s", key, name),
				"request %s is above the limit %s", req.String(), lim.String())
		}
	}
}

func quantities(p *problems, key string, m map[string]string) map[string]resource.Quantity {
	out := map[string]resource.Quantity{}
	for _, name := range sortedKeys(m) {
		k := child(key, name)
		if !slices.Contains(resourceNames, name) {
			p.addf(k, "use cpu, memory or ephemeral-storage", "%q is not a supported resource", name)
			continue
		}
		q, err := resource.ParseQuantity(m[name])
		if err != nil || q.Sign() < 0 {
			p.addf(k, `use a Kubernetes quantity such as "100m" (cpu) or "128Mi" (memory)`, "%q is not a valid non-negative quantity", m[name])
			continue
		}
		// "64m" of memory is 0.064 bytes: a unit mistaken for Mi, which no container survives.
		if name != "cpu" && q.Cmp(resource.MustParse("1Mi")) < 0 {
			p.addf(k, `use a binary unit such as "64Mi" ("m" means thousandths)`, "%q is less than 1Mi of %s", m[name], name)
			continue
		}
		out[name] = q
	}
	return out
}

// checkSize refuses a storage size that is not a positive quantity.
func checkSize(p *problems, key, size string) {
	q, err := resource.ParseQuantity(size)
	if err != nil || q.Sign() <= 0 {
		p.addf(key, `use a positive quantity such as "10Gi"`, "%q is not a positive storage size", size)
	}
}

var pullPolicies = []string{string(corev1.PullAlways), string(corev1.PullIfNotPresent), string(corev1.PullNever)}

// checkImage parses the image the way container runtimes do (the distribution reference
// grammar): repository, tag and digest each on their own.
func checkImage(p *problems, key string, img Image) {
	repo := img.Repository
	named, err := reference.ParseNormalizedNamed(repo)
	switch {
	case strings.TrimSpace(repo) == "":
		p.add(key+".repository", "is empty", `set it to an image repository such as "ghcr.io/certctl-io/certctl-server"`)
	case err != nil:
		p.addf(key+".repository", `use a lowercase repository without a scheme, such as "ghcr.io/certctl-io/certctl-server"`,
			"%q is not an image repository: %v", repo, err)
	case !reference.IsNameOnly(named):
		p.addf(key+".repository", "put the tag in "+key+".tag and the digest in "+key+".digest",
			"%q is not a bare repository", repo)
	}
	if img.Tag != "" && (named == nil || tagErr(named, img.Tag) != nil) && err == nil {
		p.addf(key+".tag", "use at most 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
			"%q is not a valid image tag", img.Tag)
	}
	if img.Digest != "" {
		if d, err := digest.Parse(img.Digest); err != nil || d.Algorithm() != digest.SHA256 {
			p.addf(key+".digest", `use "sha256:" followed by 64 lowercase hex digits`, "%q is not a sha256 digest", img.Digest)
		}
	}
	oneOf(p, key+".pullPolicy", img.PullPolicy, pullPolicies...)
}

func tagErr(named reference.Named, tag string) error {
	_, err := reference.WithTag(named, tag)
	return err
}

// checkSecurityContext holds a pod to the "restricted" Pod Security Standard the program promises.
func checkSecurityContext(p *problems, key string, sc SecurityContext) {
	for _, id := range []struct {
		name string
		v    *int64
	}{{"runAsUser", sc.RunAsUser}, {"runAsGroup", sc.RunAsGroup}, {"fsGroup", sc.FSGroup}} {
		if id.v != nil {
			checkID(p, key+"."+id.name, *id.v)
		}
	}
	for i, g := range sc.SupplementalGroups {
		checkID(p, index(key+".supplementalGroups", i), g)
	}
	switch {
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		p.add(key+".runAsNonRoot", "is not true, which the restricted Pod Security Standard requires", "set it to true")
	case sc.RunAsUser != nil && *sc.RunAsUser == 0:
		p.add(key+".runAsUser", "is 0 (root) while runAsNonRoot is true, so the pod would never start", "use a non-zero uid such as 1000")
	}
	switch {
	case sc.SeccompProfile == nil:
		p.add(key+".seccompProfile", "is unset, which the restricted Pod Security Standard refuses", `set seccompProfile.type to "RuntimeDefault"`)
	case sc.SeccompProfile.Type == string(corev1.SeccompProfileTypeRuntimeDefault):
	case sc.SeccompProfile.Type == string(corev1.SeccompProfileTypeLocalhost):
		if sc.SeccompProfile.LocalhostProfile == "" {
			p.add(key+".seccompProfile.localhostProfile", "is empty while type is Localhost", "set it to the profile path on the node, or use type RuntimeDefault")
		}
	default:
		p.addf(key+".seccompProfile.type", "use RuntimeDefault or Localhost", "%q is refused by the restricted Pod Security Standard", sc.SeccompProfile.Type)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add(key+".allowPrivilegeEscalation", "is not false, which the restricted Pod Security Standard requires", "set it to false")
	}
	if sc.Privileged != nil && *sc.Privileged {
		p.add(key+".privileged", "is true, which the Pod Security Standards refuse", "set it to false or remove it")
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add(key+".capabilities.drop", `does not contain "ALL", which the restricted Pod Security Standard requires`, `set it to ["ALL"]`)
	}
	if sc.Capabilities != nil {
		for i, c := range sc.Capabilities.Add {
			if c != "NET_BIND_SERVICE" {
				p.addf(index(key+".capabilities.add", i), "remove it (only NET_BIND_SERVICE may be added)",
					"capability %q is refused by the restricted Pod Security Standard", c)
			}
		}
	}
}

func checkID(p *problems, key string, id int64) {
	if id < 0 || id > math.MaxInt32 {
		p.addf(key, "use an id between 0 and 2147483647", "%d is not a valid user or group id", id)
	}
}

func checkProbe(p *problems, key string, t ProbeTiming) {
	atLeast(p, key+".initialDelaySeconds", t.InitialDelaySeconds, 0)
	atLeast(p, key+".periodSeconds", t.PeriodSeconds, 1)
	atLeast(p, key+".timeoutSeconds", t.TimeoutSeconds, 1)
	atLeast(p, key+".failureThreshold", t.FailureThreshold, 1)
}

// checkDuration refuses anything but a positive Go duration ("30s", "6h").
func checkDuration(p *problems, key, s string) (time.Duration, bool) {
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		p.addf(key, `use a positive duration such as "30s", "15m" or "6h"`, "%q is not a positive duration", s)
		return 0, false
	}
	return d, true
}

// checkPromDuration refuses anything but a positive Prometheus duration ("30s", "1h30m", "2d").
func checkPromDuration(p *problems, key, s string) (time.Duration, bool) {
	d, err := PrometheusDuration(s)
	if err != nil || d <= 0 {
		p.addf(key, `use a positive Prometheus duration such as "30s", "15m" or "1h30m" (whole numbers; units y, w, d, h, m, s, ms in that order)`,
			"%q is not a positive Prometheus duration", s)
		return 0, false
	}
	return d, true
}

// PrometheusDuration parses Prometheus' duration syntax ("30s", "1h30m", "7d"), which Go's
// time.ParseDuration does not: Prometheus refuses fractions and "us" and accepts "d", "w", "y".
func PrometheusDuration(s string) (time.Duration, error) {
	d, err := model.ParseDuration(s)
	return time.Duration(d), err
}

// checkURL refuses anything but an absolute URL with a host and one of schemes. A secret value
// is never echoed, nor is url.Parse's error (it quotes its input).
func checkURL(p *problems, key, raw string, secret bool, example string, schemes ...string) {
	u, err := url.Parse(raw)
	if err == nil && slices.Contains(schemes, strings.ToLower(u.Scheme)) && u.Host != "" {
		return
	}
	shown := strconv.Quote(raw)
	if secret {
		shown = "the value"
	}
	p.addf(key, "use an absolute URL such as "+example, "%s is not an absolute %s URL", shown, strings.Join(schemes, " or "))
}

func checkEmail(p *problems, key, addr string) {
	if _, err := mail.ParseAddress(addr); err != nil {
		p.addf(key, `use one address such as "certctl@example.com"`, "%q is not an email address", addr)
	}
}

func checkAbsPath(p *problems, key, v string) bool {
	if !path.IsAbs(v) {
		p.addf(key, `use an absolute path such as "/var/lib/certctl"`, "%q is not an absolute path", v)
		return false
	}
	return true
}

// checkIssuerRef checks a cert-manager issuer reference; the name is required only when used.
func checkIssuerRef(p *problems, key string, used bool, ref IssuerRef) {
	if used && ref.Name == "" {
		p.add(key+".name", "is empty, so cert-manager has no issuer to sign with",
			"set it to the name of your cert-manager Issuer or ClusterIssuer")
	}
	checkOptionalName(p, key+".name", ref.Name, dnsSubdomain)
	oneOf(p, key+".kind", ref.Kind, "Issuer", "ClusterIssuer")
	checkOptionalName(p, key+".group", ref.Group, dnsSubdomain)
}

// checkSecretKeyRef refuses half a reference: a Secret name without a key or the reverse.
func checkSecretKeyRef(p *problems, key string, ref SecretKeyRef) {
	switch {
	case ref.Name == "" && ref.Key != "":
		p.add(key+".name", "is empty while "+key+".key is set", "set both name and key, or neither")
	case ref.Name != "" && ref.Key == "":
		p.add(key+".key", "is empty while "+key+".name is set", "set both name and key, or neither")
	}
	checkOptionalName(p, key+".name", ref.Name, dnsSubdomain)
	if ref.Key != "" {
		if errs := validation.IsConfigMapKey(ref.Key); len(errs) > 0 {
			p.addf(key+".key", "use letters, digits, '-', '_' or '.'", "%q is not a valid Secret key: %s", ref.Key, joinErrs(errs))
		}
	}
}

// unusedSecret refuses a credential whose feature is off: it would sit in state for nothing, and
// more often it means a forgotten enabled=true.
func unusedSecret(p *problems, key string, s Secret, enabled bool, enabledKey string) {
	if s.IsSet() && !enabled {
		p.addf(key, fmt.Sprintf("set %s=true or remove it", enabledKey), "a secret is set while %s is false", enabledKey)
	}
}

func checkIntOrPercent(p *problems, key string, v *intstr.IntOrString) {
	if v == nil {
		return
	}
	if v.Type == intstr.Int {
		atLeast(p, key, v.IntVal, 0)
		return
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if !strings.HasSuffix(v.StrVal, "%") || err != nil || n < 0 || n > 100 {
		p.addf(key, `use a whole number such as 1 or a percentage such as "50%"`, "%q is not a count or a percentage", v.StrVal)
	}
}

var (
	tolerationOperators = []string{"", string(corev1.TolerationOpEqual), string(corev1.TolerationOpExists)}
	taintEffects        = []string{"", string(corev1.TaintEffectNoSchedule), string(corev1.TaintEffectPreferNoSchedule), string(corev1.TaintEffectNoExecute)}
)

func checkTolerations(p *problems, key string, tolerations []corev1.Toleration) {
	for i, t := range tolerations {
		k := index(key, i)
		if t.Key != "" {
			if errs := validation.IsQualifiedName(t.Key); len(errs) > 0 {
				p.addf(k+".key", `use a qualified name such as "dedicated" or "example.com/dedicated"`, "%q is not a valid taint key: %s", t.Key, joinErrs(errs))
			}
		}
		if oneOf(p, k+".operator", string(t.Operator), tolerationOperators...) {
			switch {
			case t.Operator == corev1.TolerationOpExists && t.Value != "":
				p.add(k+".value", "is set while operator is Exists, which matches any value", "remove the value or use operator Equal")
			case t.Operator != corev1.TolerationOpExists && t.Key == "":
				p.add(k+".key", "is empty while operator is Equal", "set a key, or use operator Exists to tolerate every taint")
			}
		}
		oneOf(p, k+".effect", string(t.Effect), taintEffects...)
		if t.TolerationSeconds != nil && t.Effect != corev1.TaintEffectNoExecute {
			p.add(k+".tolerationSeconds", "only applies to the NoExecute effect", "remove it or set effect to NoExecute")
		}
	}
}

// checkEnv checks a workload's env map and extraEnv list against each other and against the
// variables the program sets itself (owners).
func checkEnv(p *problems, key string, env map[string]string, extra []corev1.EnvVar, owners []ReservedEnv) {
	owned := func(k, name string) {
		i := slices.IndexFunc(owners, func(o ReservedEnv) bool { return o.Name == name })
		switch {
		case i < 0:
		case owners[i].Key != "":
			p.addf(k, "set "+owners[i].Key+" instead", "%s is set by the program from %s", name, owners[i].Key)
		default:
			p.addf(k, "remove it: the program sets it", "%s is managed by the program", name)
		}
	}
	validName := func(k, name string) bool {
		if errs := validation.IsEnvVarName(name); len(errs) > 0 {
			p.addf(k, "use letters, digits, '_', '-' or '.', not starting with a digit", "%q is not a valid environment variable name: %s", name, joinErrs(errs))
			return false
		}
		return true
	}
	for _, name := range sortedKeys(env) {
		k := child(key+".env", name)
		if validName(k, name) {
			owned(k, name)
		}
	}
	seen := map[string]int{}
	for i, e := range extra {
		k := index(key+".extraEnv", i)
		if e.Value != "" && e.ValueFrom != nil {
			p.add(k+".valueFrom", "is set together with value", "keep one of value and valueFrom")
		}
		checkEnvSource(p, k+".valueFrom", e.ValueFrom)
		if !validName(k+".name", e.Name) {
			continue
		}
		owned(k+".name", e.Name)
		if _, dup := env[e.Name]; dup {
			p.addf(k+".name", fmt.Sprintf("remove it from %s.env or from %s.extraEnv", key, key), "%s is also set in %s.env", e.Name, key)
		}
		if j, dup := seen[e.Name]; dup {
			p.addf(k+".name", "remove one of the two entries", "%s duplicates %s", e.Name, index(key+".extraEnv", j))
			continue
		}
		seen[e.Name] = i
	}
}

// volumeSources counts the sources set on a volume; Kubernetes wants exactly one.
func volumeSources(src corev1.VolumeSource) int {
	n := 0
	v := reflect.ValueOf(src)
	for i := range v.NumField() {
		if f := v.Field(i); f.Kind() == reflect.Pointer && !f.IsNil() {
			n++
		}
	}
	return n
}

// splitList splits a comma-separated setting, trimming blanks around entries.
func splitList(s string) []string {
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}
