// Package signature is the one HMAC helper of the carrier adapters: the
// "sha256=<mac>" headers Meta, X and open messaging put on their webhooks (and open
// messaging on our posts), and Twilio's X-Twilio-Signature for tools that play Twilio
// (the adapter itself verifies with twilio-go's validator).
package signature

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// Encoding is how a MAC is written in a header.
type Encoding int

// Encodings: Meta writes hex; X and open messaging write standard base64.
const (
	Hex Encoding = iota
	Base64
)

const prefix = "sha256="

func (e Encoding) encode(b []byte) string {
	if e == Hex {
		return hex.EncodeToString(b)
	}
	return base64.StdEncoding.EncodeToString(b)
}

func (e Encoding) decode(s string) ([]byte, error) {
	if e == Hex {
		return hex.DecodeString(s)
	}
	return base64.StdEncoding.DecodeString(s)
}

func mac(secret string, data []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(data)
	return m.Sum(nil)
}

// SHA256 returns "sha256=" and the HMAC-SHA256 of data under secret, in enc.
func SHA256(secret string, data []byte, enc Encoding) string {
	return prefix + enc.encode(mac(secret, data))
}

// VerifySHA256 reports, in constant time, whether header is SHA256(secret, body, enc).
// A header without the prefix or not in enc is refused.
func VerifySHA256(secret, header string, body []byte, enc Encoding) bool {
	s, ok := strings.CutPrefix(header, prefix)
	if !ok {
		return false
	}
	got, err := enc.decode(s)
	if err != nil {
		return false
	}
	return hmac.Equal(got, mac(secret, body))
}

// Twilio returns the X-Twilio-Signature Twilio puts on a form post to fullURL: the
// base64 HMAC-SHA1, under the auth token, of the URL followed by every parameter
// sorted by name, name then value.
func Twilio(authToken, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	m := hmac.New(sha1.New, []byte(authToken))
	m.Write([]byte(fullURL))
	for _, k := range keys {
		for _, v := range form[k] {
			m.Write([]byte(k))
			m.Write([]byte(v))
		}
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
