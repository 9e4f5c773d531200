package kubelet

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// identity is who a container's process runs as and what it may do.
type identity struct {
	uid, gid int64
	// groups are the supplementary groups: the primary group, the user's groups in the image's
	// /etc/group, the pod's supplementalGroups and fsGroup.
	groups []int64
	home   string // HOME when the environment sets none
	// caps is the capability bounding set as setpriv operations (nil: keep all); for uid 0 it is
	// also what the process holds.
	caps       []string
	noNewPrivs bool
}

// defaultCaps is the capability set containerd gives a container that neither adds nor drops any.
var defaultCaps = []string{
	"chown", "dac_override", "fsetid", "fowner", "mknod", "net_raw", "setgid", "setuid",
	"setfcap", "setpcap", "net_bind_service", "sys_chroot", "kill", "audit_write",
}

// containerIdentity applies the pod's securityContext, then the container's over it, as kubelet
// does, and then the image's /etc (here the host's, under etc) as containerd and runc do: an
// unset group is the user's primary group, the user's groups are added, and HOME is the user's
// home, else "/". It refuses what kubelet refuses: runAsNonRoot with uid 0.
func containerIdentity(pod *corev1.PodSpec, c *corev1.Container, img Image, etc string) (identity, error) {
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	imgUID, imgGID, err := parseImageUser(img.User)
	if err != nil {
		return identity{}, err
	}
	uid := firstSet(csc.RunAsUser, psc.RunAsUser, imgUID)
	if isTrue(firstNonNil(csc.RunAsNonRoot, psc.RunAsNonRoot)) && uid == 0 {
		return identity{}, fmt.Errorf("container has runAsNonRoot and image will run as root")
	}
	acct := lookupAccount(etc, uid)
	id := identity{
		uid:        uid,
		gid:        firstSet(csc.RunAsGroup, psc.RunAsGroup, imgGID, acct.gid),
		home:       acct.home,
		caps:       boundingSet(csc),
		noNewPrivs: csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation,
	}
	groups := slices.Concat([]int64{id.gid}, acct.groups, psc.SupplementalGroups)
	if psc.FSGroup != nil {
		groups = append(groups, *psc.FSGroup)
	}
	slices.Sort(groups)
	id.groups = slices.Compact(groups)
	return id, nil
}

// account is what the image's /etc says about a uid.
type account struct {
	gid    *int64 // primary group; nil without a passwd entry
	home   string
	groups []int64 // groups listing the user as a member
}

// lookupAccount reads the uid's passwd entry and group memberships under etc. Without an entry
// the home is "/", as runc has it.
func lookupAccount(etc string, uid int64) account {
	acct := account{home: "/"}
	var name string
	for _, f := range readColonFile(filepath.Join(etc, "passwd")) {
		if len(f) >= 6 && f[2] == strconv.FormatInt(uid, 10) {
			name = f[0]
			if gid, err := strconv.ParseInt(f[3], 10, 64); err == nil {
				acct.gid = &gid
			}
			if f[5] != "" {
				acct.home = f[5]
			}
			break
		}
	}
	if name == "" {
		return acct
	}
	for _, f := range readColonFile(filepath.Join(etc, "group")) {
		if len(f) >= 4 && slices.Contains(strings.Split(f[3], ","), name) {
			if gid, err := strconv.ParseInt(f[2], 10, 64); err == nil {
				acct.groups = append(acct.groups, gid)
			}
		}
	}
	return acct
}

// readColonFile splits each line of a passwd-style file at its colons; a missing file has none.
func readColonFile(path string) [][]string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var lines [][]string
	for _, line := range strings.Split(string(data), "\n") {
		if line != "" && !strings.HasPrefix(line, "#") {
			lines = append(lines, strings.Split(line, ":"))
		}
	}
	return lines
}

// parseImageUser reads an image's numeric USER ("uid" or "uid:gid"); none means root.
func parseImageUser(user string) (uid, gid *int64, err error) {
	if user == "" {
		return nil, nil, nil
	}
	u, g, hasGroup := strings.Cut(user, ":")
	uv, err := strconv.ParseInt(u, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("image user %q: only numeric users are emulated", user)
	}
	if !hasGroup {
		return &uv, nil, nil
	}
	gv, err := strconv.ParseInt(g, 10, 64)
	if err != nil {
		return nil, nil, fmt.Errorf("image user %q: only numeric groups are emulated", user)
	}
	return &uv, &gv, nil
}

// boundingSet is the capability bounding set as setpriv operations, applied in order. It follows
// containerd: the default set, then "ALL" in add, then "ALL" in drop, then the individual adds,
// then the individual drops. A privileged container keeps everything (nil: nothing to drop).
func boundingSet(sc *corev1.SecurityContext) []string {
	if isTrue(sc.Privileged) {
		return nil
	}
	ops := []string{"-all"}
	for _, c := range defaultCaps {
		ops = append(ops, "+"+c)
	}
	if sc.Capabilities == nil {
		return ops
	}
	name := func(c corev1.Capability) string {
		return strings.TrimPrefix(strings.ToLower(string(c)), "cap_")
	}
	if slices.ContainsFunc(sc.Capabilities.Add, func(c corev1.Capability) bool { return name(c) == "all" }) {
		ops = append(ops, "+all")
	}
	if slices.ContainsFunc(sc.Capabilities.Drop, func(c corev1.Capability) bool { return name(c) == "all" }) {
		ops = append(ops, "-all")
	}
	for _, c := range sc.Capabilities.Add {
		if name(c) != "all" {
			ops = append(ops, "+"+name(c))
		}
	}
	for _, c := range sc.Capabilities.Drop {
		if name(c) != "all" {
			ops = append(ops, "-"+name(c))
		}
	}
	return ops
}

// setprivArgs drops to the identity: uid, gid, exactly the supplementary groups (never empty: the
// primary group is one), no inheritable capabilities and the bounding set (so root keeps only
// those capabilities, as in a container).
func (id identity) setprivArgs() []string {
	var groups []string
	for _, g := range id.groups {
		groups = append(groups, strconv.FormatInt(g, 10))
	}
	args := []string{
		"--reuid=" + strconv.FormatInt(id.uid, 10), "--regid=" + strconv.FormatInt(id.gid, 10),
		"--groups=" + strings.Join(groups, ","), "--inh-caps=-all",
	}
	if id.caps != nil {
		args = append(args, "--bounding-set="+strings.Join(id.caps, ","))
	}
	if id.noNewPrivs {
		args = append(args, "--no-new-privs")
	}
	return args
}

func firstSet(values ...*int64) int64 {
	if v := firstNonNil(values...); v != nil {
		return *v
	}
	return 0
}

func firstNonNil[T any](values ...*T) *T {
	for _, v := range values {
		if v != nil {
			return v
		}
	}
	return nil
}
