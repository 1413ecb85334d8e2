package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/secure/precis"
)

// MaxPasswordLen is the longest password accepted, in octets.
const MaxPasswordLen = 1024

// ErrBadPassword is matched by errors about an unacceptable new password
// (empty, too long, or with characters RFC 8265 OpaqueString disallows).
var ErrBadPassword = errors.New("unacceptable password")

// HashParams are argon2id parameters (RFC 9106).
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
	SaltLen uint32 // octets
	KeyLen  uint32 // octets
}

// DefaultHashParams are used for every new hash:
// $argon2id$v=19$m=65536,t=2,p=1$… with a 16-octet salt and 32-octet hash.
var DefaultHashParams = HashParams{Memory: 64 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Limits on parameters read back from a stored hash, so that a corrupt or
// hostile hash string cannot exhaust memory or CPU.
const (
	maxHashMemory = 1 << 20 // KiB (1 GiB)
	maxHashTime   = 64
	minSaltLen    = 8
	maxSaltLen    = 64
	minKeyLen     = 16
	maxKeyLen     = 64
)

// paramsOK reports whether argon2id parameters are within the limits.
func paramsOK(memory, time uint32, threads uint8) bool {
	return threads > 0 && time > 0 && time <= maxHashTime && memory >= 8*uint32(threads) && memory <= maxHashMemory
}

// preparePassword checks a password and applies the RFC 8265 OpaqueString
// profile (NFC, non-ASCII spaces mapped to U+0020), as SASL (RFC 4616)
// expects, so that the same password typed on different systems matches.
func preparePassword(pw string) (string, error) {
	if pw == "" {
		return "", fmt.Errorf("%w: password must not be empty", ErrBadPassword)
	}
	if len(pw) > MaxPasswordLen {
		return "", fmt.Errorf("%w: password longer than %d bytes", ErrBadPassword, MaxPasswordLen)
	}
	p, err := precis.OpaqueString.String(pw)
	if err != nil {
		return "", fmt.Errorf("%w: password contains characters that are not allowed (control characters or unassigned code points)", ErrBadPassword)
	}
	return p, nil
}

// HashPassword hashes pw with argon2id and DefaultHashParams and a random
// salt, returning a PHC string
// `$argon2id$v=19$m=65536,t=2,p=1$<salt>$<hash>` (unpadded standard
// base64). The password must be non-empty and at most MaxPasswordLen octets.
func HashPassword(pw string) (string, error) {
	return DefaultHashParams.Hash(pw)
}

// Hash is HashPassword with the parameters p.
func (p HashParams) Hash(pw string) (string, error) {
	prepared, err := preparePassword(pw)
	if err != nil {
		return "", err
	}
	if !paramsOK(p.Memory, p.Time, p.Threads) || p.SaltLen < minSaltLen || p.SaltLen > maxSaltLen || p.KeyLen < minKeyLen || p.KeyLen > maxKeyLen {
		return "", fmt.Errorf("directory: invalid argon2id parameters %+v", p)
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("directory: reading random salt: %w", err)
	}
	key := argon2.IDKey([]byte(prepared), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

// phc is a parsed argon2id PHC string.
type phc struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

var b64 = base64.RawStdEncoding.Strict()

func parsePHC(s string) (*phc, error) {
	bad := errors.New("malformed argon2id hash")
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return nil, bad
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return nil, errors.New("unsupported argon2 version")
	}
	h := &phc{}
	var seen [3]bool
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, bad
		}
		var idx int
		var bits int
		switch k {
		case "m":
			idx, bits = 0, 32
		case "t":
			idx, bits = 1, 32
		case "p":
			idx, bits = 2, 8
		default:
			return nil, bad
		}
		if seen[idx] || v == "" || v[0] == '+' {
			return nil, bad
		}
		seen[idx] = true
		n, err := strconv.ParseUint(v, 10, bits)
		if err != nil {
			return nil, bad
		}
		switch idx {
		case 0:
			h.memory = uint32(n)
		case 1:
			h.time = uint32(n)
		case 2:
			h.threads = uint8(n)
		}
	}
	if !seen[0] || !seen[1] || !seen[2] {
		return nil, bad
	}
	if !paramsOK(h.memory, h.time, h.threads) {
		return nil, errors.New("argon2id parameters out of range")
	}
	var err error
	if h.salt, err = b64.DecodeString(parts[4]); err != nil || len(h.salt) < minSaltLen || len(h.salt) > maxSaltLen {
		return nil, bad
	}
	if h.key, err = b64.DecodeString(parts[5]); err != nil || len(h.key) < minKeyLen || len(h.key) > maxKeyLen {
		return nil, bad
	}
	return h, nil
}

// VerifyPassword reports whether pw matches the PHC string hash. The
// argon2id parameters are read from the string, so they can change without
// invalidating old hashes. A malformed hash never matches. The comparison is
// constant-time.
func VerifyPassword(hash, pw string) bool {
	h, err := parsePHC(hash)
	if err != nil {
		return false
	}
	prepared, err := preparePassword(pw)
	if err != nil {
		return false
	}
	key := argon2.IDKey([]byte(prepared), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	return subtle.ConstantTimeCompare(key, h.key) == 1
}

// NeedsRehash reports whether hash was made with parameters other than p
// (or is malformed), so a caller may rehash after a successful login.
func NeedsRehash(hash string, p HashParams) bool {
	h, err := parsePHC(hash)
	if err != nil {
		return true
	}
	return h.memory != p.Memory || h.time != p.Time || h.threads != p.Threads ||
		uint32(len(h.salt)) != p.SaltLen || uint32(len(h.key)) != p.KeyLen
}
