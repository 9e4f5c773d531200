package kubelet

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// hostDirs are the host directories that stand in for an image's base layers.
var hostDirs = []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"}

// baseDirs are directories every image's base layer has, created in each container's root.
var baseDirs = map[string]os.FileMode{
	"/proc": 0o555, "/sys": 0o555, "/dev": 0o755, "/tmp": 0o777 | os.ModeSticky, "/var/tmp": 0o777 | os.ModeSticky,
	"/run": 0o755, "/root": 0o700, "/home": 0o755,
}

// devices are the device nodes containerd puts in a container's /dev.
var devices = []string{"null", "zero", "full", "random", "urandom", "tty"}

// bindMount is one mount of a host file or directory into a container.
type bindMount struct {
	source   string // host path
	target   string // container path
	readOnly bool
}

// rootfs is one container's root file system, assembled in a private mount namespace: the
// host's system directories as its image layers (each an overlay with a per-container writable
// layer on top), the kernel file systems, the pod's hosts and hostname files, the image's files
// and the volume mounts.
type rootfs struct {
	dir      string // on the host: root/, and upper/ and work/ for the overlays
	hostname string
	// hostsFile and hostnameFile are the pod's, shared by its containers.
	hostsFile, hostnameFile string
	imageFiles              map[string]string // container path -> host path
	volumes                 []bindMount
	workDir                 string
	readOnly                bool // securityContext.readOnlyRootFilesystem
}

func (r *rootfs) root() string { return filepath.Join(r.dir, "root") }

// prepare creates the root's skeleton on the host and returns the host directories to mount as
// layers: where the host has a symlink (/bin -> usr/bin on a merged-/usr system) the root gets
// the same symlink.
func (r *rootfs) prepare() (layers []string, err error) {
	for _, dir := range slices.Sorted(maps.Keys(baseDirs)) {
		if err := mkdirMode(filepath.Join(r.root(), dir), baseDirs[dir]); err != nil {
			return nil, err
		}
	}
	if err := os.Chmod(r.root(), 0o755); err != nil {
		return nil, err
	}
	for _, dir := range hostDirs {
		info, err := os.Lstat(dir)
		switch {
		case os.IsNotExist(err):
			continue
		case err != nil:
			return nil, err
		case info.Mode()&os.ModeSymlink != 0:
			target, err := os.Readlink(dir)
			if err == nil {
				err = os.Symlink(target, filepath.Join(r.root(), dir))
			}
			if err != nil {
				return nil, err
			}
		default:
			layers = append(layers, dir)
		}
	}
	return layers, nil
}

// script is the shell program run in the container's fresh mount namespace (private propagation,
// so nothing reaches the host): it mounts everything, makes the root read-only if asked (writable
// volumes stay writable), reports success with a byte on fd 3 and execs "$@" (chroot, setpriv,
// env, the command). Mount points are created as it goes, inside what is already mounted, the
// way runc creates them.
func (r *rootfs) script(layers []string) (string, error) {
	root := r.root()
	in := func(p string) string { return filepath.Join(root, p) }
	var s shell
	s.line("set -e")
	s.run("mount", "--bind", root, root) // a mount of its own, so it can be made read-only at the end
	for _, dir := range layers {
		upper, work := filepath.Join(r.dir, "upper", dir), filepath.Join(r.dir, "work", dir)
		s.run("mkdir", "-p", in(dir), upper, work)
		s.run("mount", "-t", "overlay", "overlay", "-o", "lowerdir="+dir+",upperdir="+upper+",workdir="+work, in(dir))
	}
	s.run("mount", "-t", "proc", "proc", in("/proc"))
	s.run("mount", "-t", "sysfs", "-o", "ro,nosuid,nodev,noexec", "sysfs", in("/sys"))
	s.run("mount", "-t", "tmpfs", "-o", "nosuid,mode=755,size=65536k", "tmpfs", in("/dev"))
	for _, d := range devices {
		if err := s.bind("/dev/"+d, in("/dev/"+d), false); err != nil {
			return "", err
		}
	}
	s.run("mkdir", in("/dev/shm"))
	s.run("mount", "-t", "tmpfs", "-o", "nosuid,nodev,noexec,mode=1777,size=65536k", "shm", in("/dev/shm"))
	for i, link := range []string{"stdin", "stdout", "stderr"} {
		s.run("ln", "-s", fmt.Sprintf("/proc/self/fd/%d", i), in("/dev/"+link))
	}
	s.run("ln", "-s", "/proc/self/fd", in("/dev/fd"))
	// kubelet mounts /etc/hosts writable; containerd makes /etc/hostname follow the root.
	if err := s.bind(r.hostsFile, in("/etc/hosts"), false); err != nil {
		return "", err
	}
	if err := s.bind(r.hostnameFile, in("/etc/hostname"), r.readOnly); err != nil {
		return "", err
	}
	s.run("hostname", r.hostname)
	for _, m := range r.mounts() {
		if err := s.bind(m.source, in(m.target), m.readOnly); err != nil {
			return "", err
		}
	}
	s.line("test -d " + quote(in(r.workDir)) + " || mkdir -p " + quote(in(r.workDir)))
	if r.readOnly {
		for _, dir := range layers {
			s.run("mount", "-o", "remount,bind,ro", in(dir))
		}
		s.run("mount", "-o", "remount,bind,ro", root)
	}
	s.line("umask 0022") // runc's default for a container's process
	s.line("printf x >&3")
	s.line(`exec "$@" 3>&-`)
	return s.String(), nil
}

// mounts are the image's files (read-only, part of the image) and then the volumes, each group
// ordered parents first, as containerd orders mounts.
func (r *rootfs) mounts() []bindMount {
	var files []bindMount
	for target, source := range r.imageFiles {
		files = append(files, bindMount{source: source, target: target, readOnly: true})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].target < files[j].target })
	volumes := slices.Clone(r.volumes)
	depth := func(m bindMount) int { return strings.Count(filepath.Clean(m.target), "/") }
	sort.SliceStable(volumes, func(i, j int) bool { return depth(volumes[i]) < depth(volumes[j]) })
	return append(files, volumes...)
}

// shell accumulates a POSIX shell script.
type shell struct{ strings.Builder }

func (s *shell) line(text string) { s.WriteString(text + "\n") }

// run appends a command with every argument quoted.
func (s *shell) run(args ...string) {
	quoted := make([]string, len(args))
	for i, a := range args {
		quoted[i] = quote(a)
	}
	s.line(strings.Join(quoted, " "))
}

// bind mounts a host file or directory at target, creating the mount point first.
func (s *shell) bind(source, target string, readOnly bool) error {
	info, err := os.Stat(source)
	if err != nil {
		return fmt.Errorf("mount source: %w", err)
	}
	if info.IsDir() {
		s.run("mkdir", "-p", target)
	} else {
		s.run("mkdir", "-p", filepath.Dir(target))
		s.line("test -e " + quote(target) + " || touch " + quote(target))
	}
	s.run("mount", "--bind", source, target)
	if readOnly {
		s.run("mount", "-o", "remount,bind,ro", target)
	}
	return nil
}

// quote makes s one shell word.
func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
