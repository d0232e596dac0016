package omnigate

import "regexp"

// whatsAppUserID is the shape of a WhatsApp business-scoped user id (BSUID): an ISO
// 3166 country code, a period, and up to 128 letters and digits ("US.13491208655302741918");
// a parent BSUID shared across business portfolios has "ENT." after the country
// ("US.ENT.11815799212886844830").
var whatsAppUserID = regexp.MustCompile(`^[A-Z]{2}\.(ENT\.)?[A-Za-z0-9]{1,128}$`)

// IsWhatsAppUserID reports whether s is a WhatsApp business-scoped user id: the address
// of a WhatsApp contact whose phone number the carrier withholds (a user with a
// username). Such an address is kept exactly as the carrier gave it.
func IsWhatsAppUserID(s string) bool { return whatsAppUserID.MatchString(s) }
