// Package egress decides which network destinations omnigate may reach on behalf of
// its configuration or its callers: open-messaging integrations, the platform's events
// URL, and media URLs handed to carriers. Loopback, private, link-local and other
// non-public addresses are refused unless the operator allows them (the sandbox and
// tests do), so a URL cannot turn omnigate into a proxy into its own network (SSRF).
package egress

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// ErrPrivate is returned for a destination that is not a public address.
var ErrPrivate = errors.New("a loopback, private or link-local destination")

// nonPublic are the ranges that are not the public internet, beyond what netip's
// predicates name: "this network", shared address space (CGNAT), benchmarking and the
// IPv4 reserved block, the documentation and discard prefixes.
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b:1::/48"),
	netip.MustParsePrefix("100::/64"),
}

// Private reports whether ip is not a public unicast address: loopback, private
// (RFC 1918, fc00::/7), link-local (169.254/16 with cloud metadata, fe80::/10),
// unspecified, multicast, broadcast or reserved. IPv4-mapped IPv6 is judged as IPv4.
func Private(ip netip.Addr) bool {
	ip = ip.Unmap()
	if !ip.IsValid() || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return true
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// CheckURL refuses an http(s) URL whose host is written as a non-public IP address or
// is localhost. A host name is left to the dialer (see Control), which checks the
// address it resolves to when the connection is made.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("egress: not an absolute URL")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("egress: %s: %w", host, ErrPrivate)
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil && Private(ip) {
		return fmt.Errorf("egress: %s: %w", host, ErrPrivate)
	}
	// Forms net/netip refuses but resolvers accept (2130706433, 0x7f.1, 127.1).
	if ip := net.ParseIP(host); ip == nil && looksNumeric(host) {
		return fmt.Errorf("egress: %s: a numeric host that is not a dotted-quad address", host)
	}
	return nil
}

// looksNumeric reports whether host ends in a number, as URL parsers decide whether a
// host is an IPv4 address: its last label is digits or 0x and hex digits.
func looksNumeric(host string) bool {
	last := host[strings.LastIndex(host, ".")+1:]
	if h, ok := strings.CutPrefix(strings.ToLower(last), "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return last != "" && strings.Trim(last, "0123456789") == ""
}

// Control is a net.Dialer Control function that refuses to connect to a non-public
// address. It runs after name resolution, for every address tried, so a host name
// that resolves (or is rebound) to an internal address is refused too, and so is a
// redirect to one.
func Control(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("egress: %s: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("egress: %s: not an IP address", address)
	}
	if Private(ip) {
		return fmt.Errorf("egress: refusing to connect to %s: %w", host, ErrPrivate)
	}
	return nil
}
