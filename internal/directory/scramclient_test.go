package directory

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
)

// scramClientFinal computes a SCRAM-SHA-256 client-final-message (RFC 5802
// §3) for clientBare and serverFirst.
func scramClientFinal(clientBare, serverFirst, password string) (string, error) {
	attrs := strings.Split(serverFirst, ",")
	if len(attrs) != 3 {
		return "", errors.New("bad server-first-message")
	}
	salt, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(attrs[1], "s="))
	if err != nil {
		return "", err
	}
	iter, err := strconv.Atoi(strings.TrimPrefix(attrs[2], "i="))
	if err != nil {
		return "", err
	}
	salted, err := pbkdf2.Key(sha256.New, password, salt, iter, 32)
	if err != nil {
		return "", err
	}
	mac := func(key []byte, msg string) []byte {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(msg))
		return m.Sum(nil)
	}
	clientKey := mac(salted, "Client Key")
	stored := sha256.Sum256(clientKey)
	without := "c=biws," + attrs[0]
	sig := mac(stored[:], clientBare+","+serverFirst+","+without)
	for i := range sig {
		sig[i] ^= clientKey[i]
	}
	return without + ",p=" + base64.StdEncoding.EncodeToString(sig), nil
}
