package kubelet

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// untilReadyInterval is how often a readiness probe that has never passed is retried. kubelet
// waits initialDelaySeconds and then periodSeconds between attempts; a test only needs to know
// that the probe passes, so it is retried sooner (periodSeconds applies once the pod is ready).
const untilReadyInterval = 200 * time.Millisecond

// probeUserAgent is the User-Agent kubelet's HTTP probes send.
const probeUserAgent = "kube-probe/1.33"

// watchReadiness runs the container's readiness probe until the pod stops or the container
// exits, like kubelet's prober: successThreshold passes make it ready, failureThreshold failures
// in a row make it unready again. A container without a readiness probe is ready once running.
func (p *Pod) watchReadiness(ctx context.Context, ctr *container) {
	probe := ctr.spec.ReadinessProbe
	if probe == nil {
		ctr.setReady(true, "")
		return
	}
	period := seconds(probe.PeriodSeconds, 10)
	timeout := seconds(probe.TimeoutSeconds, 1)
	successThreshold, failureThreshold := orDefault(probe.SuccessThreshold, 1), orDefault(probe.FailureThreshold, 3)
	var successes, failures int32
	everReady := false
	for {
		if err := p.check(ctx, ctr, probe.ProbeHandler, timeout, true); err != nil {
			successes, failures = 0, failures+1
			if failures >= failureThreshold || !everReady {
				ctr.setReady(false, err.Error())
			}
		} else {
			successes, failures = successes+1, 0
			if successes >= successThreshold {
				everReady = true
				ctr.setReady(true, "")
			}
		}
		interval := period
		if !everReady {
			interval = min(period, untilReadyInterval)
		}
		select {
		case <-ctx.Done():
			return
		case <-ctr.done:
			ctr.setReady(false, "container exited")
			return
		case <-time.After(interval):
		}
	}
}

// check runs a probe or lifecycle handler once against the running container, within timeout.
// Exec probes get kubelet's static $(VAR) expansion; exec hooks are run as written.
func (p *Pod) check(ctx context.Context, ctr *container, h corev1.ProbeHandler, timeout time.Duration, isProbe bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch {
	case h.Exec != nil:
		command := h.Exec.Command
		if isProbe {
			command = probeCommand(ctr.spec, command)
		}
		var out strings.Builder
		if err := ctr.exec(ctx, command, nil, &out, &out); err != nil {
			return fmt.Errorf("exec %q: %v: %s", command, err, strings.TrimSpace(out.String()))
		}
		return nil
	case h.HTTPGet != nil:
		return p.httpGet(ctx, ctr, h.HTTPGet)
	case h.TCPSocket != nil:
		port, err := containerPort(ctr.spec, h.TCPSocket.Port)
		if err != nil {
			return err
		}
		conn, err := dialIn(ctx, p.netns, netip.Addr{}, netip.AddrPortFrom(p.ip, uint16(port)))
		if err != nil {
			return fmt.Errorf("tcpSocket: %w", err)
		}
		return conn.Close()
	}
	return fmt.Errorf("only exec, httpGet and tcpSocket handlers are emulated")
}

// httpGet is kubelet's HTTP probe: a GET to the pod's IP (HTTPS without verifying the
// certificate), success for a status from 200 to 399. Redirects are not followed.
func (p *Pod) httpGet(ctx context.Context, ctr *container, get *corev1.HTTPGetAction) error {
	port, err := containerPort(ctr.spec, get.Port)
	if err != nil {
		return err
	}
	target := netip.AddrPortFrom(p.ip, uint16(port))
	scheme := strings.ToLower(string(get.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	u := url.URL{Scheme: scheme, Host: target.String(), Path: get.Path}
	if path, query, ok := strings.Cut(get.Path, "?"); ok {
		u.Path, u.RawQuery = path, query
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", probeUserAgent)
	req.Header.Set("Accept", "*/*")
	for _, h := range get.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
		} else {
			req.Header.Add(h.Name, h.Value)
		}
	}
	client := http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return dialIn(ctx, p.netns, netip.Addr{}, target)
			},
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // kubelet does not verify probe certificates
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("httpGet %s: %w", u.String(), err)
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("httpGet %s: status %d", u.String(), resp.StatusCode)
	}
	return nil
}

// containerPort resolves a probe's port: a number, or the name of one of the container's ports.
func containerPort(c *corev1.Container, port intstr.IntOrString) (int, error) {
	if port.Type == intstr.Int {
		return port.IntValue(), nil
	}
	if n, err := strconv.Atoi(port.StrVal); err == nil {
		return n, nil
	}
	for _, p := range c.Ports {
		if p.Name == port.StrVal {
			return int(p.ContainerPort), nil
		}
	}
	return 0, fmt.Errorf("container %s has no port named %q", c.Name, port.StrVal)
}

// runPostStart runs the container's postStart hook, if any: kubelet starts the next container,
// and counts this one as started, only once the hook has returned.
func (p *Pod) runPostStart(ctx context.Context, ctr *container) error {
	if ctr.spec.Lifecycle == nil || ctr.spec.Lifecycle.PostStart == nil {
		return nil
	}
	h := ctr.spec.Lifecycle.PostStart
	if h.Sleep != nil {
		time.Sleep(time.Duration(h.Sleep.Seconds) * time.Second)
		return nil
	}
	handler := corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket}
	if err := p.check(ctx, ctr, handler, runTimeout, false); err != nil {
		return fmt.Errorf("postStart hook of container %s failed: %w", ctr.spec.Name, err)
	}
	return nil
}

func seconds(v int32, def int32) time.Duration {
	return time.Duration(orDefault(v, def)) * time.Second
}

// orDefault is the API's defaulting of an unset (zero) probe field.
func orDefault(v, def int32) int32 {
	if v == 0 {
		return def
	}
	return v
}
