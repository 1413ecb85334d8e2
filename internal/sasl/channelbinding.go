package sasl

import (
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
)

// Channel binding type names (RFC 5056 §7, IANA channel-binding types).
const (
	CBTLSExporter       = "tls-exporter"
	CBTLSServerEndPoint = "tls-server-end-point"
)

// ChannelBindings holds the channel binding data of one TLS connection.
// A nil field is a type this connection cannot offer.
type ChannelBindings struct {
	// Exporter is tls-exporter (RFC 9266 §2): 32 octets of keying
	// material exported with the label "EXPORTER-Channel-Binding" and an
	// empty context. Go refuses the export on TLS 1.2 without the extended
	// master secret (RFC 9266 §3 forbids it there), so it is nil then.
	Exporter []byte
	// ServerEndPoint is tls-server-end-point (RFC 5929 §4.1): the hash
	// of the server's certificate.
	ServerEndPoint []byte
}

// Available reports whether any channel binding type can be used, that
// is whether SCRAM-SHA-256-PLUS may be offered.
func (cb ChannelBindings) Available() bool {
	return cb.Exporter != nil || cb.ServerEndPoint != nil
}

// data returns the channel binding data of the named type, or nil.
func (cb ChannelBindings) data(name string) []byte {
	switch name {
	case CBTLSExporter:
		return cb.Exporter
	case CBTLSServerEndPoint:
		return cb.ServerEndPoint
	}
	return nil
}

// TLSChannelBindings returns the channel binding data of an established
// TLS server connection. cert is the certificate the server presented (nil
// when unknown: tls-server-end-point is then not offered).
func TLSChannelBindings(st tls.ConnectionState, cert *x509.Certificate) ChannelBindings {
	var cb ChannelBindings
	if st.HandshakeComplete {
		// RFC 9266 §2.
		if ekm, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32); err == nil {
			cb.Exporter = ekm
		}
	}
	if cert != nil {
		cb.ServerEndPoint = ServerEndPoint(cert)
	}
	return cb
}

// ConnChannelBindings is TLSChannelBindings for a server connection made
// with cfg: the certificate is fetched again from cfg (GetCertificate, else
// the first of Certificates), so it is the presented one unless it was
// replaced in between, in which case a -PLUS login with
// tls-server-end-point fails and the client tries again.
func ConnChannelBindings(tc *tls.Conn, cfg *tls.Config) ChannelBindings {
	st := tc.ConnectionState()
	return TLSChannelBindings(st, serverCert(st, cfg))
}

func serverCert(st tls.ConnectionState, cfg *tls.Config) *x509.Certificate {
	if cfg == nil {
		return nil
	}
	var c *tls.Certificate
	if cfg.GetCertificate != nil {
		c, _ = cfg.GetCertificate(&tls.ClientHelloInfo{ServerName: st.ServerName})
	} else if len(cfg.Certificates) > 0 {
		c = &cfg.Certificates[0]
	}
	if c == nil || len(c.Certificate) == 0 {
		return nil
	}
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil
	}
	return leaf
}

// ServerEndPoint returns the tls-server-end-point data of a certificate
// (RFC 5929 §4.1): its hash with the hash function of its signature
// algorithm, SHA-256 when that is MD5 or SHA-1. It returns nil for
// signature algorithms without a single hash function (Ed25519), for which
// RFC 5929 defines no binding.
func ServerEndPoint(cert *x509.Certificate) []byte {
	switch cert.SignatureAlgorithm {
	case x509.SHA384WithRSA, x509.ECDSAWithSHA384, x509.SHA384WithRSAPSS:
		h := sha512.Sum384(cert.Raw)
		return h[:]
	case x509.SHA512WithRSA, x509.ECDSAWithSHA512, x509.SHA512WithRSAPSS:
		h := sha512.Sum512(cert.Raw)
		return h[:]
	case x509.PureEd25519, x509.UnknownSignatureAlgorithm:
		return nil
	}
	h := sha256.Sum256(cert.Raw)
	return h[:]
}
