package omnigate

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// MaxUserIDDigits is the longest numeric user id accepted for X, Messenger and
// Instagram. X ids are at most 19 digits, Meta's page-scoped ids about 17.
const MaxUserIDDigits = 32

// MaxOpenAddress is the longest open-messaging contact address, in bytes.
const MaxOpenAddress = 128

// NormalizeAddress normalises a contact address for ch: E.164 for SMS and WhatsApp
// (a number written with + and a country code keeps its own country; otherwise country
// applies); a numeric user id for X, Messenger and Instagram, whose APIs address
// people by id only; for open messaging, up to 128 bytes of printable UTF-8, trimmed.
// A normalised address normalises to itself, so a stored address and the same address
// typed again name one contact.
func NormalizeAddress(ch Channel, raw, country string) (string, bool) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", false
	}
	switch ch {
	case X, Messenger, Instagram:
		if len(raw) > MaxUserIDDigits || strings.TrimLeft(raw, "0123456789") != "" {
			return "", false
		}
		return raw, true
	}
	if !ch.UsesPhoneNumbers() {
		if len(raw) > MaxOpenAddress || !utf8.ValidString(raw) || strings.ContainsFunc(raw, unicode.IsControl) {
			return "", false
		}
		return raw, true
	}
	raw = strings.TrimPrefix(raw, "whatsapp:")
	if ch == WhatsApp && IsWhatsAppUserID(raw) {
		// A contact known only by its business-scoped user id (no phone number).
		return raw, true
	}
	num, err := phonenumbers.Parse(raw, strings.ToUpper(country))
	if err != nil || !phonenumbers.IsPossibleNumber(num) {
		return "", false
	}
	if phonenumbers.GetRegionCodeForNumber(num) == "" && !phonenumbers.IsValidNumber(num) {
		return "", false
	}
	return phonenumbers.Format(num, phonenumbers.E164), true
}

// UsesNumericIDs reports whether contacts on c are addressed by a numeric user id.
func (c Channel) UsesNumericIDs() bool { return c == X || c == Messenger || c == Instagram }

// ValidCountry reports whether country is an ISO 3166 region code the phone-number
// library knows (case-insensitive).
func ValidCountry(country string) bool {
	return phonenumbers.GetSupportedRegions()[strings.ToUpper(country)]
}
