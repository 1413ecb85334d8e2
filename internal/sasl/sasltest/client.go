// Package sasltest has the client side of SCRAM-SHA-256(-PLUS) (RFC 5802,
// RFC 7677) for the protocol packages' tests. It is written apart from the
// server in package sasl, so that a test of one checks the other.
package sasltest

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// SCRAMClient is one client exchange.
type SCRAMClient struct {
	User, Password string
	// CBType is the channel binding type for -PLUS ("tls-exporter" or
	// "tls-server-end-point"), with its data in CBData; "" for none.
	CBType string
	CBData []byte
	// Flag overrides the GS2 channel binding flag ("n", "y"); "" picks
	// "n" or "p=" from CBType.
	Flag string

	bare, authMessage string
	serverKey         []byte
	nonce             string
}

func (c *SCRAMClient) gs2() string {
	flag := c.Flag
	if flag == "" {
		flag = "n"
		if c.CBType != "" {
			flag = "p=" + c.CBType
		}
	}
	return flag + ",,"
}

// First returns the client-first-message.
func (c *SCRAMClient) First() []byte {
	b := make([]byte, 18)
	rand.Read(b)
	c.nonce = base64.RawStdEncoding.EncodeToString(b)
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.User)
	c.bare = "n=" + user + ",r=" + c.nonce
	return []byte(c.gs2() + c.bare)
}

// Final returns the client-final-message for the server-first-message.
func (c *SCRAMClient) Final(serverFirst []byte) ([]byte, error) {
	sf := string(serverFirst)
	attrs := strings.Split(sf, ",")
	if len(attrs) < 3 || !strings.HasPrefix(attrs[0], "r="+c.nonce) || len(attrs[0]) <= len("r="+c.nonce) {
		return nil, fmt.Errorf("bad server-first-message %q", sf)
	}
	salt, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(attrs[1], "s="))
	if err != nil {
		return nil, err
	}
	iter, err := strconv.Atoi(strings.TrimPrefix(attrs[2], "i="))
	if err != nil {
		return nil, err
	}
	salted, err := pbkdf2.Key(sha256.New, c.Password, salt, iter, sha256.Size)
	if err != nil {
		return nil, err
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	c.serverKey = mac(salted, "Server Key")
	without := "c=" + base64.StdEncoding.EncodeToString(append([]byte(c.gs2()), c.CBData...)) + "," + attrs[0]
	c.authMessage = c.bare + "," + sf + "," + without
	proof := mac(stored[:], c.authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return []byte(without + ",p=" + base64.StdEncoding.EncodeToString(proof)), nil
}

// Verify checks the server-final-message: the server knew the keys.
func (c *SCRAMClient) Verify(serverFinal []byte) error {
	want := "v=" + base64.StdEncoding.EncodeToString(mac(c.serverKey, c.authMessage))
	if !hmac.Equal([]byte(want), serverFinal) {
		return errors.New("server signature does not verify")
	}
	return nil
}

func mac(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Exporter returns the tls-exporter channel binding data of a client
// connection (RFC 9266 §2).
func Exporter(tc *tls.Conn) []byte {
	st := tc.ConnectionState()
	b, err := st.ExportKeyingMaterial("EXPORTER-Channel-Binding", nil, 32)
	if err != nil {
		return nil
	}
	return b
}
