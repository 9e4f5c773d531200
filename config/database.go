package config

import (
	"net/netip"
	"net/url"
	"strconv"
)

// DatabaseEndpoint is where the server connects to an external database: facts of the secret URL
// that are not secret themselves, for the server's NetworkPolicy.
type DatabaseEndpoint struct {
	// Addr is the host when it is an IP address; invalid for a DNS name, which a NetworkPolicy
	// cannot match.
	Addr netip.Addr
	Port int
}

// Endpoint is the external database's address and port (lib/pq's default 5432); false when the
// URL is unset or unparsable (validation reports that).
func (e ExternalDatabase) Endpoint() (DatabaseEndpoint, bool) {
	if !e.URL.IsSet() {
		return DatabaseEndpoint{}, false
	}
	u, err := url.Parse(e.URL.reveal())
	if err != nil || u.Hostname() == "" {
		return DatabaseEndpoint{}, false
	}
	port := 5432
	if p := u.Port(); p != "" {
		if port, err = strconv.Atoi(p); err != nil {
			return DatabaseEndpoint{}, false
		}
	}
	addr, _ := netip.ParseAddr(u.Hostname())
	return DatabaseEndpoint{Addr: addr, Port: port}, true
}
