package kubelet

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// volume is a pod volume as it exists on the host.
type volume struct {
	path string
	// readOnly: Secret and ConfigMap volumes are always mounted read-only, and so is a claim
	// marked readOnly.
	readOnly bool
}

// claimSource hands out the host directory of a PersistentVolumeClaim by name.
type claimSource func(claimName string) (string, error)

// makeVolumes creates the pod's volumes under dir as kubelet's volume plugins do, including the
// ownership kubelet gives them for the pod's fsGroup.
func makeVolumes(spec *corev1.PodSpec, dir string, objects objectSource, claim claimSource) (map[string]volume, error) {
	var fsGroup *int64
	if spec.SecurityContext != nil {
		fsGroup = spec.SecurityContext.FSGroup
	}
	volumes := map[string]volume{}
	for _, v := range spec.Volumes {
		vol, err := makeVolume(v, filepath.Join(dir, v.Name), objects, claim)
		if err == nil && fsGroup != nil {
			err = setVolumeOwnership(vol.path, *fsGroup, vol.readOnly)
		}
		if err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		volumes[v.Name] = vol
	}
	return volumes, nil
}

func makeVolume(v corev1.Volume, path string, objects objectSource, claim claimSource) (volume, error) {
	switch {
	case v.EmptyDir != nil:
		// kubelet creates emptyDir world-writable; sizeLimit and medium are not emulated.
		return volume{path: path}, mkdirMode(path, 0o777)
	case v.Secret != nil:
		s := v.Secret
		secret, found := objects.secret(s.SecretName)
		var data map[string][]byte
		if found {
			data = secret.Data
		}
		files, err := projectKeys("Secret", s.SecretName, data, found, s.Items, s.DefaultMode, isTrue(s.Optional))
		if err != nil {
			return volume{}, err
		}
		return volume{path: path, readOnly: true}, writeAtomic(path, files)
	case v.ConfigMap != nil:
		c := v.ConfigMap
		cm, found := objects.configMap(c.Name)
		data := map[string][]byte{}
		if found {
			for k, v := range cm.Data {
				data[k] = []byte(v)
			}
			maps.Copy(data, cm.BinaryData)
		}
		files, err := projectKeys("ConfigMap", c.Name, data, found, c.Items, c.DefaultMode, isTrue(c.Optional))
		if err != nil {
			return volume{}, err
		}
		return volume{path: path, readOnly: true}, writeAtomic(path, files)
	case v.PersistentVolumeClaim != nil:
		dir, err := claim(v.PersistentVolumeClaim.ClaimName)
		return volume{path: dir, readOnly: v.PersistentVolumeClaim.ReadOnly}, err
	}
	return volume{}, fmt.Errorf("only emptyDir, secret, configMap and persistentVolumeClaim volumes are emulated")
}

// projectedFile is one file of a Secret or ConfigMap volume.
type projectedFile struct {
	data []byte
	mode os.FileMode
}

// projectKeys is kubelet's payload for a Secret or ConfigMap volume: every key, or only the
// items at their paths; mode is the item's, else defaultMode, else 0644. A missing object or item
// key keeps the pod from starting unless the volume is optional (then it is left out).
func projectKeys(kind, name string, data map[string][]byte, found bool, items []corev1.KeyToPath, defaultMode *int32, optional bool) (map[string]projectedFile, error) {
	if !found && !optional {
		return nil, fmt.Errorf("%s %q not found", kind, name)
	}
	mode := os.FileMode(0o644)
	if defaultMode != nil {
		mode = os.FileMode(*defaultMode)
	}
	files := map[string]projectedFile{}
	if len(items) == 0 {
		for k, v := range data {
			files[k] = projectedFile{data: v, mode: mode}
		}
		return files, nil
	}
	for _, item := range items {
		v, ok := data[item.Key]
		if !ok {
			if optional {
				continue
			}
			return nil, fmt.Errorf("%s %q has no key %q", kind, name, item.Key)
		}
		if !filepath.IsLocal(item.Path) {
			return nil, fmt.Errorf("item path %q must be relative and stay inside the volume", item.Path)
		}
		f := projectedFile{data: v, mode: mode}
		if item.Mode != nil {
			f.mode = os.FileMode(*item.Mode)
		}
		files[item.Path] = f
	}
	return files, nil
}

// writeAtomic lays the files out the way kubelet's AtomicWriter does, so a program sees what it
// would see in a pod: the payload in a timestamped directory, a ..data symlink to it, and each
// visible top-level name a symlink through ..data. The volume directory is a tmpfs root (1777).
func writeAtomic(dir string, files map[string]projectedFile) error {
	if err := mkdirMode(dir, 0o777|os.ModeSticky); err != nil {
		return err
	}
	payload, err := os.MkdirTemp(dir, time.Now().Format("..2006_01_02_15_04_05."))
	if err == nil {
		err = os.Chmod(payload, 0o755)
	}
	if err != nil {
		return err
	}
	top := map[string]bool{}
	for _, path := range slices.Sorted(maps.Keys(files)) {
		f := files[path]
		full := filepath.Join(payload, path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil { // the umask must not change it
			return err
		}
		first, _, _ := strings.Cut(path, string(filepath.Separator))
		top[first] = true
	}
	if err := os.Symlink(filepath.Base(payload), filepath.Join(dir, "..data")); err != nil {
		return err
	}
	for name := range top {
		if err := os.Symlink(filepath.Join("..data", name), filepath.Join(dir, name)); err != nil {
			return err
		}
	}
	return nil
}

// setVolumeOwnership is kubelet's SetVolumeOwnership for an fsGroup: everything (symlinks not
// followed) gets group fsGroup and group read (read-write unless the volume is read-only);
// directories also get group search and setgid, so new files inherit the group. A read-only
// 0400 Secret file thus becomes 0440 root:fsGroup.
func setVolumeOwnership(dir string, fsGroup int64, readOnly bool) error {
	mask := os.FileMode(0o660)
	if readOnly {
		mask = 0o440
	}
	return filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, int(fsGroup)); err != nil {
			return err
		}
		if info.Mode()&os.ModeSymlink != 0 {
			return nil // chmod would follow the link and change the file it points to
		}
		m := mask
		if info.IsDir() {
			m |= os.ModeSetgid | 0o110
		}
		return os.Chmod(path, info.Mode()|m)
	})
}

// newClaimDir makes the directory that stands in for a freshly provisioned volume: the root of a
// new ext4 file system, 0755 root-owned with an empty lost+found.
func newClaimDir(path string) error {
	if err := mkdirMode(path, 0o755); err != nil {
		return err
	}
	return mkdirMode(filepath.Join(path, "lost+found"), 0o700)
}

// mkdirMode creates dir with exactly mode (the umask does not apply), and missing parents 0755.
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// volumeMounts resolves a container's volumeMounts to host sources. A subPath that does not exist
// yet is created as a directory with the volume root's mode, as kubelet does.
func volumeMounts(c *corev1.Container, volumes map[string]volume) ([]bindMount, error) {
	var mounts []bindMount
	for _, m := range c.VolumeMounts {
		vol, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volumeMount %s: no volume of that name", m.Name)
		}
		if m.SubPathExpr != "" {
			return nil, fmt.Errorf("volumeMount %s: subPathExpr is not emulated", m.Name)
		}
		source := vol.path
		if m.SubPath != "" {
			if !filepath.IsLocal(m.SubPath) {
				return nil, fmt.Errorf("volumeMount %s: subPath %q must stay inside the volume", m.Name, m.SubPath)
			}
			source = filepath.Join(vol.path, m.SubPath)
			if err := makeSubPath(vol.path, source); err != nil {
				return nil, fmt.Errorf("volumeMount %s: %w", m.Name, err)
			}
		}
		mounts = append(mounts, bindMount{source: source, target: m.MountPath, readOnly: m.ReadOnly || vol.readOnly})
	}
	return mounts, nil
}

func makeSubPath(root, path string) error {
	if _, err := os.Lstat(path); err == nil {
		return nil
	}
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	return mkdirMode(path, info.Mode()&(os.ModePerm|os.ModeSetgid|os.ModeSticky))
}
