// Package tlsconf owns the server's TLS set-up: it loads a certificate and
// its key from PEM files, swaps in new files on Reload (what SIGHUP does)
// without disturbing established connections, builds the one *tls.Config
// every listener shares, and writes a self-signed certificate for a first
// start.
//
// Invariants:
//   - The certificate in use sits behind an atomic pointer: a handshake
//     reads whichever pair was complete when it started, never a half-loaded
//     one, and Reload never waits for handshakes or they for it.
//   - A failed Reload keeps the previous certificate; the server goes on
//     with what worked.
//   - Connections already established keep the keys they negotiated: a
//     reload only changes what later handshakes present.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// Certificate is a certificate chain and private key read from two PEM
// files, reloadable. Its methods are safe for concurrent use.
type Certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// Load reads the certificate chain (leaf first) from certFile and its
// private key from keyFile.
func Load(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads both files again and, when they hold a valid pair, makes it
// the certificate of every later handshake. On error the previous
// certificate stays in use.
func (c *Certificate) Reload() error {
	pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("loading certificate %s and key %s: %w", c.certFile, c.keyFile, err)
	}
	if pair.Leaf == nil {
		// LoadX509KeyPair fills Leaf since Go 1.23; keep Leaf usable anyway.
		if pair.Leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return fmt.Errorf("parsing certificate %s: %w", c.certFile, err)
		}
	}
	c.cur.Store(&pair)
	return nil
}

// Leaf returns the certificate in use (for logging its names and expiry).
func (c *Certificate) Leaf() *x509.Certificate { return c.cur.Load().Leaf }

// GetCertificate is tls.Config.GetCertificate: the pair in use now.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	p := c.cur.Load()
	if p == nil {
		return nil, errors.New("tlsconf: no certificate loaded")
	}
	return p, nil
}

// AEADSuites are the TLS 1.2 cipher suites a listener offers: ECDHE key
// exchange (forward secrecy) with an AEAD cipher only, as RFC 9325 §4.2
// recommends. Go's default list still has the CBC suites (ECDHE-*-AES-*-SHA,
// open to padding-oracle and Lucky13-style attacks). TLS 1.3 suites are
// all AEAD and not configurable.
var AEADSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ServerConfig returns the configuration every listener shares: TLS 1.2 or
// later (RFC 8314 §4.1 asks for nothing older; RFC 8996 retires 1.0 and
// 1.1) with the AEADSuites only, and the certificate read through c on
// every handshake.
func ServerConfig(c *Certificate) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   AEADSuites,
		GetCertificate: c.GetCertificate,
	}
}

// Describe sums up a certificate for a log line: its names and expiry.
func Describe(leaf *x509.Certificate) []any {
	names := append([]string(nil), leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		names = append(names, ip.String())
	}
	return []any{"subject", leaf.Subject.CommonName, "names", names, "expires", leaf.NotAfter.UTC().Format(time.RFC3339)}
}
