package kubelet

import (
	"encoding/json"
	"fmt"
	"net/netip"

	corev1 "k8s.io/api/core/v1"
)

// decode turns a manifest as decoded from JSON or YAML (numbers as float64 or int) into the typed
// Kubernetes object: a JSON round trip, so every field keeps the API's own meaning (int-or-string
// ports, base64 Secret data, resource quantities) without hand-written accessors.
func decode[T any](manifest map[string]any) (T, error) {
	var out T
	b, err := json.Marshal(manifest)
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	return out, err
}

// service is a Service with the address this emulation gave it. Every Service gets one, headless
// ones too, because names resolve through the pods' hosts files rather than through DNS.
type service struct {
	*corev1.Service
	ip netip.Addr
}

// store holds the namespace's Secrets, ConfigMaps and Services as the API server would return them.
type store struct {
	namespace  string
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
	services   []*service // in the order they were added, which fixes their addresses
}

func newStore(namespace string) *store {
	return &store{namespace: namespace, secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
}

// add records one object. Kinds a kubelet does not read are ignored, and so are objects of
// another namespace: a pod only ever sees its own. It reports the Service it added, if any.
func (s *store) add(manifest map[string]any) (*service, error) {
	meta, err := decode[objectHeader](manifest)
	if err != nil {
		return nil, err
	}
	if ns := meta.Metadata.Namespace; ns != "" && ns != s.namespace {
		return nil, nil
	}
	switch meta.Kind {
	case "Secret":
		secret, err := decode[corev1.Secret](manifest)
		if err != nil {
			return nil, fmt.Errorf("decoding Secret: %w", err)
		}
		s.secrets[secret.Name] = withStringData(&secret)
	case "ConfigMap":
		cm, err := decode[corev1.ConfigMap](manifest)
		if err != nil {
			return nil, fmt.Errorf("decoding ConfigMap: %w", err)
		}
		s.configMaps[cm.Name] = &cm
	case "Service":
		svc, err := decode[corev1.Service](manifest)
		if err != nil {
			return nil, fmt.Errorf("decoding Service: %w", err)
		}
		return s.addService(&svc)
	}
	return nil, nil
}

// objectHeader is the part of any manifest that says what it is and where it lives.
type objectHeader struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Namespace string `json:"namespace"`
	} `json:"metadata"`
}

// withStringData merges stringData into data, as the API server does on write: a reader only
// ever sees data, and stringData wins over data for the same key.
func withStringData(secret *corev1.Secret) *corev1.Secret {
	if secret.Data == nil {
		secret.Data = map[string][]byte{}
	}
	for k, v := range secret.StringData {
		secret.Data[k] = []byte(v)
	}
	secret.StringData = nil
	return secret
}

// addService allocates the Service's address from serviceCIDR, the way the API server allocates
// a cluster IP. Headless Services keep clusterIP None (so they get no env vars) and get an address
// all the same: DNS would answer with the pods' IPs, this emulation answers with the proxy's.
func (s *store) addService(svc *corev1.Service) (*service, error) {
	for _, old := range s.services {
		if old.Name == svc.Name {
			return nil, fmt.Errorf("the Service %q is already known: replacing a Service is not emulated", svc.Name)
		}
	}
	ip, err := nthAddr(serviceCIDR, len(s.services)+1)
	if err != nil {
		return nil, err
	}
	if svc.Spec.ClusterIP != corev1.ClusterIPNone {
		svc.Spec.ClusterIP = ip.String()
	}
	added := &service{Service: svc, ip: ip}
	s.services = append(s.services, added)
	return added, nil
}

// nthAddr is the n-th address of prefix (n >= 1).
func nthAddr(prefix netip.Prefix, n int) (netip.Addr, error) {
	a := prefix.Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	v += uint32(n)
	addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	if !prefix.Contains(addr) {
		return netip.Addr{}, fmt.Errorf("address range %s exhausted", prefix)
	}
	return addr, nil
}

func (s *store) secret(name string) (*corev1.Secret, bool) {
	v, ok := s.secrets[name]
	return v, ok
}

func (s *store) configMap(name string) (*corev1.ConfigMap, bool) {
	v, ok := s.configMaps[name]
	return v, ok
}

// serviceObjects lists the Services as the API returns them, for service-link variables.
func (s *store) serviceObjects() []*corev1.Service {
	out := make([]*corev1.Service, len(s.services))
	for i, svc := range s.services {
		out[i] = svc.Service
	}
	return out
}
