package kubelet

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// dialTimeout bounds the proxy's connection to an endpoint.
const dialTimeout = 5 * time.Second

// endpoint is a ready pod behind a Service port, and the port its container listens on.
type endpoint struct {
	pod  *Pod
	port int
}

// endpoints lists the running, ready pods whose labels match the Service's selector and that
// expose the Service's targetPort, in start order. A Service without a selector has none
// (manually managed Endpoints are not emulated).
func (c *Cluster) endpoints(svc *service, port corev1.ServicePort) []endpoint {
	c.mu.Lock()
	pods := append([]*Pod(nil), c.pods...)
	c.mu.Unlock()
	var eps []endpoint
	for _, p := range pods {
		if len(svc.Spec.Selector) == 0 || !matches(svc.Spec.Selector, p.pod.Labels) || !p.Ready() {
			continue
		}
		if target, ok := p.targetPort(port); ok {
			eps = append(eps, endpoint{pod: p, port: target})
		}
	}
	return eps
}

// matches is a Service selector: every key present with the same value.
func matches(selector, labels map[string]string) bool {
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// dialService connects from source (a pod's IP) through the Service port to the next ready
// endpoint, round-robin, at the endpoint pod's IP and target port.
func (c *Cluster) dialService(ctx context.Context, source netip.Addr, svc *service, port corev1.ServicePort) (net.Conn, error) {
	eps := c.endpoints(svc, port)
	if len(eps) == 0 {
		return nil, fmt.Errorf("service %s port %d has no ready endpoints", svc.Name, port.Port)
	}
	key := svc.Name + "/" + strconv.Itoa(int(port.Port))
	c.mu.Lock()
	ep := eps[c.roundRobin[key]%len(eps)]
	c.roundRobin[key]++
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	return dialIn(ctx, ep.pod.netns, source, netip.AddrPortFrom(ep.pod.ip, uint16(ep.port)))
}

// startProxy is kube-proxy's part in a new pod: listeners for every Service known so far.
func (c *Cluster) startProxy(p *Pod) error {
	c.mu.Lock()
	services := slices.Clone(c.objects.services)
	c.mu.Unlock()
	for _, svc := range services {
		if err := c.proxyService(p, svc); err != nil {
			return err
		}
	}
	return nil
}

// proxyService listens on every port of the Service at its address inside the pod's sandbox and
// forwards each connection to an endpoint. A port the pod itself declares is skipped: the pod's
// own listener (usually on 0.0.0.0) needs it, and then answers the Service address itself.
func (c *Cluster) proxyService(p *Pod, svc *service) error {
	for _, port := range svc.Spec.Ports {
		if port.Protocol != "" && port.Protocol != corev1.ProtocolTCP {
			continue // UDP and SCTP Services are not emulated
		}
		if p.declaresPort(port.Port) {
			continue
		}
		l, err := listenIn(p.netns, netip.AddrPortFrom(svc.ip, uint16(port.Port)))
		if err != nil {
			return fmt.Errorf("kube-proxy for service %s port %d: %w", svc.Name, port.Port, err)
		}
		p.mu.Lock()
		p.listeners = append(p.listeners, l)
		p.mu.Unlock()
		go c.serve(l, p.ip, svc, port)
	}
	return nil
}

// serve forwards every connection accepted on a Service listener until the listener closes.
func (c *Cluster) serve(l net.Listener, source netip.Addr, svc *service, port corev1.ServicePort) {
	for {
		client, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			backend, err := c.dialService(context.Background(), source, svc, port)
			if err != nil {
				reset(client) // kube-proxy rejects connections to a Service without endpoints
				return
			}
			splice(client, backend)
		}()
	}
}

// reset closes a connection with a TCP RST, the closest a user-space proxy gets to a rejection.
func reset(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// splice copies both ways, passing each side's end of stream on as a half-close, until both
// directions are done.
func splice(a, b net.Conn) {
	var wg sync.WaitGroup
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tcp, ok := dst.(*net.TCPConn); ok {
			_ = tcp.CloseWrite()
		}
	}
	wg.Add(2)
	go pipe(a, b)
	go pipe(b, a)
	wg.Wait()
	_ = a.Close()
	_ = b.Close()
}

// serviceFor finds the Service a host name (or Service address) resolves to in the pods' hosts
// files: the Service's short and qualified names, or an alias of it.
func (c *Cluster) serviceFor(host string) (*service, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if target, ok := c.aliases[host]; ok {
		host = target
	}
	for _, svc := range c.objects.services {
		if host == svc.ip.String() || slices.Contains(c.serviceNames(svc), host) {
			return svc, true
		}
	}
	return nil, false
}

// serviceNames are the names cluster DNS answers for a Service.
func (c *Cluster) serviceNames(svc *service) []string {
	ns := c.objects.namespace
	return []string{svc.Name, svc.Name + "." + ns, svc.Name + "." + ns + ".svc", svc.Name + "." + ns + ".svc.cluster.local"}
}

// DialContext connects from the test process to addr ("name:port") through the Service that name
// resolves to, as a pod of the cluster would (its source address is testClientIP). It fits
// http.Transport.DialContext.
func (c *Cluster) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("dial %s %s: only tcp is emulated", network, addr)
	}
	svc, port, err := c.servicePort(addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	return c.dialService(ctx, testClientIP, svc, port)
}

// servicePort finds the Service port addr ("name:port") names.
func (c *Cluster) servicePort(addr string) (*service, corev1.ServicePort, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, corev1.ServicePort{}, err
	}
	svc, ok := c.serviceFor(host)
	if !ok {
		return nil, corev1.ServicePort{}, fmt.Errorf("no Service or alias named %q", host)
	}
	for _, port := range svc.Spec.Ports {
		if strconv.Itoa(int(port.Port)) == portText {
			return svc, port, nil
		}
	}
	return nil, corev1.ServicePort{}, fmt.Errorf("service %s has no port %s", svc.Name, portText)
}

// PortForward makes a Service port reachable from the host, as `kubectl port-forward
// service/NAME PORT` does: it listens on a free port of the host's 127.0.0.1 and carries each
// connection through DialContext, and returns that address ("127.0.0.1:PORT"). Unlike kubectl,
// which picks one pod when it starts, every connection goes to the Service's next ready endpoint;
// one made while there is none is reset. It stops, with its connections, when the test ends.
func (c *Cluster) PortForward(service string, port int) string {
	c.t.Helper()
	addr := net.JoinHostPort(service, strconv.Itoa(port))
	if _, _, err := c.servicePort(addr); err != nil {
		c.t.Fatalf("port-forward %s: %v", addr, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatalf("port-forward %s: %v", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	c.t.Cleanup(func() { // before the cluster's own cleanup, registered earlier: the pods still run
		cancel()
		_ = l.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			client, err := l.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { c.forward(ctx, client, addr) })
		}
	})
	return l.Addr().String()
}

// forward carries one port-forwarded connection to the Service until both sides are done or ctx
// ends.
func (c *Cluster) forward(ctx context.Context, client net.Conn, addr string) {
	backend, err := c.DialContext(ctx, "tcp", addr)
	if err != nil {
		reset(client)
		return
	}
	stop := context.AfterFunc(ctx, func() {
		_ = client.Close()
		_ = backend.Close()
	})
	defer stop()
	splice(client, backend)
}

// hostsFile is a pod's /etc/hosts: kubelet's managed file (localhost and the pod's own name), then
// what cluster DNS would answer: every Service's names and every alias, at the Service's address.
func (c *Cluster) hostsFile(hostname string, podIP netip.Addr) string {
	var b strings.Builder
	b.WriteString("# Kubernetes-managed hosts file.\n" +
		"127.0.0.1\tlocalhost\n" +
		"::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\n" +
		"fe00::0\tip6-mcastprefix\n" +
		"fe00::1\tip6-allnodes\n" +
		"fe00::2\tip6-allrouters\n")
	fmt.Fprintf(&b, "%s\t%s\n", podIP, hostname)
	c.mu.Lock()
	defer c.mu.Unlock()
	b.WriteString("# Cluster DNS, emulated: Services and aliases.\n")
	for _, svc := range c.objects.services {
		fmt.Fprintf(&b, "%s\t%s\n", svc.ip, strings.Join(c.serviceNames(svc), " "))
	}
	for _, alias := range slices.Sorted(maps.Keys(c.aliases)) {
		for _, svc := range c.objects.services {
			if svc.Name == c.aliases[alias] {
				fmt.Fprintf(&b, "%s\t%s\n", svc.ip, alias)
			}
		}
	}
	return b.String()
}
