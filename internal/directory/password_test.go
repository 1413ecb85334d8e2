package directory

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// cheapParams keep the race-enabled tests fast; never use them for real.
var cheapParams = HashParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordDefaultParams(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`^\$argon2id\$v=19\$m=65536,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`)
	if !re.MatchString(h) {
		t.Fatalf("hash %q is not in the expected PHC format", h)
	}
	if !VerifyPassword(h, "correct horse") {
		t.Fatal("VerifyPassword rejects the right password")
	}
	if VerifyPassword(h, "correct horse ") {
		t.Fatal("VerifyPassword accepts a wrong password")
	}
	if NeedsRehash(h, DefaultHashParams) {
		t.Error("NeedsRehash(default hash, default params)")
	}
}

func TestHashVerify(t *testing.T) {
	for _, pw := range []string{"x", "hunter2", "pässwörd", "with space", "密码", strings.Repeat("p", MaxPasswordLen)} {
		h, err := cheapParams.Hash(pw)
		if err != nil {
			t.Fatalf("Hash(%q): %v", pw, err)
		}
		if !VerifyPassword(h, pw) {
			t.Errorf("VerifyPassword(Hash(%q), same) = false", pw)
		}
		if VerifyPassword(h, pw+"x") || VerifyPassword(h, strings.ToUpper(pw)+"!") {
			t.Errorf("VerifyPassword(Hash(%q)) accepts a wrong password", pw)
		}
		h2, _ := cheapParams.Hash(pw)
		if h2 == h {
			t.Errorf("two hashes of %q are equal: salt not random", pw)
		}
		if !NeedsRehash(h, DefaultHashParams) || NeedsRehash(h, cheapParams) {
			t.Errorf("NeedsRehash wrong for %q", h)
		}
	}
}

func TestPasswordNormalisation(t *testing.T) {
	// RFC 8265 OpaqueString: NFC, so composed and decomposed forms match.
	h, err := cheapParams.Hash("caf\u00e9")
	if err != nil {
		t.Fatal(err)
	}
	if !VerifyPassword(h, "cafe\u0301") {
		t.Error("decomposed password does not match composed one")
	}
}

func TestBadPasswords(t *testing.T) {
	for _, pw := range []string{"", strings.Repeat("p", MaxPasswordLen+1), "a\x00b", "tab\there"} {
		_, err := cheapParams.Hash(pw)
		if !errors.Is(err, ErrBadPassword) {
			t.Errorf("Hash(%q) = %v, want ErrBadPassword", pw, err)
		}
		if _, err := HashPassword(pw); !errors.Is(err, ErrBadPassword) {
			t.Errorf("HashPassword(%q) = %v, want ErrBadPassword", pw, err)
		}
	}
}

func TestVerifyMalformedHashes(t *testing.T) {
	good, err := cheapParams.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, "$")
	salt, key := parts[4], parts[5]
	phc := func(head, params, s, k string) string { return "$" + head + "$" + params + "$" + s + "$" + k }
	bad := []string{
		"",
		"pw",
		"$argon2id$",
		good[1:],
		good + "$",
		good + "=",
		phc("argon2i$v=19", "m=64,t=1,p=1", salt, key),
		phc("argon2d$v=19", "m=64,t=1,p=1", salt, key),
		phc("argon2id$v=16", "m=64,t=1,p=1", salt, key),
		phc("argon2id$v=19", "m=64,t=1", salt, key),
		phc("argon2id$v=19", "m=64,t=1,p=1,x=2", salt, key),
		phc("argon2id$v=19", "m=64,m=64,t=1,p=1", salt, key),
		phc("argon2id$v=19", "m=64,t=0,p=1", salt, key),
		phc("argon2id$v=19", "m=64,t=1,p=0", salt, key),
		phc("argon2id$v=19", "m=4,t=1,p=1", salt, key),
		phc("argon2id$v=19", "m=-64,t=1,p=1", salt, key),
		phc("argon2id$v=19", "m=+64,t=1,p=1", salt, key),
		phc("argon2id$v=19", "m=99999999999,t=1,p=1", salt, key),
		phc("argon2id$v=19", fmt.Sprintf("m=%d,t=1,p=1", maxHashMemory+1), salt, key),
		phc("argon2id$v=19", "m=64,t=1000,p=1", salt, key),
		phc("argon2id$v=19", "m=64,t=1,p=256", salt, key),
		phc("argon2id$v=19", "m=64,t=1,p=1", salt+"==", key),
		phc("argon2id$v=19", "m=64,t=1,p=1", "!!!!", key),
		phc("argon2id$v=19", "m=64,t=1,p=1", "AAAA", key), // salt too short
		phc("argon2id$v=19", "m=64,t=1,p=1", salt, key[:10]),
		phc("argon2id$v=19", "m=64,t=1,p=1", salt, ""),
		phc("argon2id$v=19", "m=64,t=1,p=1", salt, key+"*"),
		"{SHA512-CRYPT}$6$abc$def",
	}
	for _, h := range bad {
		if VerifyPassword(h, "pw") {
			t.Errorf("VerifyPassword(%q) = true", h)
		}
		if !NeedsRehash(h, cheapParams) {
			t.Errorf("NeedsRehash(%q) = false", h)
		}
	}
	// Parameters are read from the string, in any order.
	reordered := phc("argon2id$v=19", "t=1,p=1,m=64", salt, key)
	if !VerifyPassword(reordered, "pw") {
		t.Error("reordered parameters do not verify")
	}
	if !VerifyPassword(good, "pw") {
		t.Error("good hash does not verify")
	}
}

func TestHashParamsInvalid(t *testing.T) {
	for _, p := range []HashParams{
		{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 4, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 4, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 4},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 100, KeyLen: 32},
		{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 100},
		{Memory: maxHashMemory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		{Memory: 64, Time: maxHashTime + 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		if _, err := p.Hash("pw"); err == nil {
			t.Errorf("Hash with %+v succeeded", p)
		}
	}
}
