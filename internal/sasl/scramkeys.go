package sasl

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultIterations is the PBKDF2 iteration count of new SCRAM keys. RFC
// 7677 §4 asks for at least 4096; clients pay for the iterations at every
// login (unless they cache the salted password), the server only when the
// password is set.
const DefaultIterations = 10000

// Limits on keys read back from storage, so that a corrupt value cannot
// make a client (or a test) spin.
const (
	saltLen       = 16
	minSaltLen    = 8
	maxSaltLen    = 64
	maxIterations = 1 << 24
)

// SCRAMKeys are what the server keeps for SCRAM-SHA-256 (RFC 5802 §3):
// never the password.
type SCRAMKeys struct {
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(ClientKey)
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// DeriveSCRAMKeys derives SCRAM-SHA-256 keys (RFC 5802 §3):
//
//	SaltedPassword := Hi(Normalize(password), salt, i)   (PBKDF2-HMAC-SHA-256)
//	ClientKey      := HMAC(SaltedPassword, "Client Key")
//	StoredKey      := H(ClientKey)
//	ServerKey      := HMAC(SaltedPassword, "Server Key")
//
// password must already be prepared (Normalize: the caller applies the
// same PRECIS OpaqueString preparation, RFC 8265, as for its password
// hashes; SASLprep, RFC 4013, agrees with it on ASCII and most other
// passwords).
func DeriveSCRAMKeys(password string, salt []byte, iterations int) (*SCRAMKeys, error) {
	if iterations < 1 || iterations > maxIterations || len(salt) == 0 {
		return nil, errors.New("sasl: bad SCRAM parameters")
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iterations, sha256.Size)
	if err != nil {
		return nil, fmt.Errorf("sasl: %w", err)
	}
	clientKey := hmacSHA256(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	return &SCRAMKeys{
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  stored[:],
		ServerKey:  hmacSHA256(salted, "Server Key"),
	}, nil
}

// NewSCRAMKeys derives keys for a (prepared) password with a new random
// salt and DefaultIterations.
func NewSCRAMKeys(password string) (*SCRAMKeys, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return nil, fmt.Errorf("sasl: reading random salt: %w", err)
	}
	return DeriveSCRAMKeys(password, salt, DefaultIterations)
}

func hmacSHA256(key []byte, msg string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

const scramPrefix = "$scram-sha-256$"

var rawB64 = base64.RawStdEncoding.Strict()

// String encodes the keys for storage, in the style of a PHC string:
// $scram-sha-256$i=<iterations>$<salt>$<StoredKey>$<ServerKey>, each key
// in unpadded standard base64.
func (k *SCRAMKeys) String() string {
	return scramPrefix + "i=" + strconv.Itoa(k.Iterations) + "$" + rawB64.EncodeToString(k.Salt) + "$" +
		rawB64.EncodeToString(k.StoredKey) + "$" + rawB64.EncodeToString(k.ServerKey)
}

// ParseSCRAMKeys decodes String's encoding.
func ParseSCRAMKeys(s string) (*SCRAMKeys, error) {
	bad := errors.New("sasl: malformed SCRAM keys")
	rest, ok := strings.CutPrefix(s, scramPrefix)
	if !ok {
		return nil, bad
	}
	parts := strings.Split(rest, "$")
	if len(parts) != 4 {
		return nil, bad
	}
	it, ok := strings.CutPrefix(parts[0], "i=")
	if !ok || it == "" || it[0] == '+' || it[0] == '0' {
		return nil, bad
	}
	n, err := strconv.Atoi(it)
	if err != nil || n < 1 || n > maxIterations {
		return nil, bad
	}
	k := &SCRAMKeys{Iterations: n}
	if k.Salt, err = rawB64.DecodeString(parts[1]); err != nil || len(k.Salt) < minSaltLen || len(k.Salt) > maxSaltLen {
		return nil, bad
	}
	if k.StoredKey, err = rawB64.DecodeString(parts[2]); err != nil || len(k.StoredKey) != sha256.Size {
		return nil, bad
	}
	if k.ServerKey, err = rawB64.DecodeString(parts[3]); err != nil || len(k.ServerKey) != sha256.Size {
		return nil, bad
	}
	return k, nil
}
