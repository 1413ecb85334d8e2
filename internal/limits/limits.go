// Package limits keeps one client from hurting the others: it slows down
// and locks out password guessing (Logins) and bounds the connections of
// one address and of the whole server (Conns).
//
// Both are shared by every listener of a process, so that an address
// cannot multiply its allowance by using several protocols.
//
// Invariants:
//   - A login attempt that Logins refuses (a locked-out account) is
//     answered exactly like a wrong password, after the same delays and
//     about the same time a password verification takes, so that neither
//     the lockout nor the existence of the account can be observed.
//   - Memory is bounded: each table holds at most MaxEntries addresses or
//     user names; old entries are dropped first.
//   - Clocks are injectable (Now fields) so that tests need not sleep.
package limits

import (
	"net"
	"net/netip"
)

// addrOf returns the IP address of a remote address, unmapped and without
// zone; the zero Addr when it is not an IP address (a Unix socket, a pipe).
func addrOf(remote net.Addr) netip.Addr {
	var a netip.Addr
	switch r := remote.(type) {
	case nil:
		return netip.Addr{}
	case *net.TCPAddr:
		a = r.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(remote.String())
		if err != nil {
			return netip.Addr{}
		}
		a = ap.Addr()
	}
	return a.Unmap().WithZone("")
}

// keyOf returns what a client address is counted under: the address, or
// for IPv6 its /64, which one subscriber usually holds whole.
func keyOf(a netip.Addr) netip.Addr {
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.Addr()
	}
	return a
}

// Networks is a list of networks; a nil or empty list contains nothing.
type Networks []netip.Prefix

// Contains reports whether a is in one of the networks.
func (ns Networks) Contains(a netip.Addr) bool {
	for _, n := range ns {
		if n.Contains(a) {
			return true
		}
	}
	return false
}
