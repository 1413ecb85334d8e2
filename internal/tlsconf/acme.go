package tlsconf

import (
	"crypto/tls"
	"net"
	"net/http"

	"golang.org/x/crypto/acme"
	"golang.org/x/crypto/acme/autocert"
)

// ACMEOptions configure certificates from an ACME CA (RFC 8555).
type ACMEOptions struct {
	// Hosts are the names certificates are requested for; any other name
	// in a client's SNI gets no certificate from the CA.
	Hosts []string
	// CacheDir keeps the account key and the certificates across restarts.
	CacheDir string
	// Email is the account contact; optional.
	Email string
	// DirectoryURL is the CA; "" is Let's Encrypt.
	DirectoryURL string
	// HTTPClient talks to the CA; nil is http.DefaultClient.
	HTTPClient *http.Client
}

// ACME returns the TLS configuration every listener shares, with
// certificates obtained, cached and renewed by autocert, and the handler
// that answers the CA's http-01 challenges: serve it on port 80 of the
// hosts. A client without SNI (some mail clients connecting by address)
// gets the first host's certificate.
func ACME(o ACMEOptions) (*tls.Config, http.Handler) {
	m := &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		Cache:      autocert.DirCache(o.CacheDir),
		HostPolicy: autocert.HostWhitelist(o.Hosts...),
		Email:      o.Email,
		Client:     &acme.Client{DirectoryURL: o.DirectoryURL, HTTPClient: o.HTTPClient},
	}
	if o.DirectoryURL == "" {
		m.Client.DirectoryURL = autocert.DefaultACMEDirectory
	}
	get := func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if hello.ServerName == "" && len(o.Hosts) > 0 {
			h := *hello
			h.ServerName = o.Hosts[0]
			hello = &h
		}
		return m.GetCertificate(hello)
	}
	h := m.HTTPHandler(nil)
	// The host policy compares bare names: a challenge served on another
	// port than 80 (behind a port mapping) carries the port in Host.
	strip := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.Host); err == nil {
			r.Host = host
		}
		h.ServeHTTP(w, r)
	})
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: AEADSuites, GetCertificate: get}, strip
}
