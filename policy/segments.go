package policy

import (
	"strings"
	"unicode/utf16"
)

// SMS encodings reported in Decision.Encoding.
const (
	EncodingGSM7 = "GSM-7"
	EncodingUCS2 = "UCS-2"
)

// gsm7Basic is the GSM 03.38 default alphabet (3GPP TS 23.038), in code order; each
// character costs one septet.
const gsm7Basic = "@£$¥èéùìòÇ\nØø\rÅå" +
	"Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ" + // 0x1B (escape) is not a character of its own
	" !\"#¤%&'()*+,-./0123456789:;<=>?" +
	"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§" +
	"¿abcdefghijklmnopqrstuvwxyzäöñüà"

// gsm7Extension is the GSM 03.38 extension table; each character costs two septets
// (escape + code).
const gsm7Extension = "\f^{}\\[~]|€"

// Per-segment capacities: a single message, and each part of a concatenated one
// (the user data header takes the difference).
const (
	gsm7Single = 160
	gsm7Part   = 153
	ucs2Single = 70
	ucs2Part   = 67
)

// Segments returns how many SMS segments text needs and the encoding carriers will
// use. Text made only of GSM-7 characters is GSM-7: 160 septets in one segment, 153 per
// segment when concatenated; an extension character (such as { or €) costs two septets
// and is never split across segments. Any other text is UCS-2: 70 UTF-16 code units in
// one segment, 67 per segment when concatenated; a surrogate pair (most emoji) costs
// two units and is never split. Empty text needs no segments.
func Segments(text string) (n int, encoding string) {
	if text == "" {
		return 0, EncodingGSM7
	}
	costs, gsm := unitCosts(text)
	if gsm {
		return pack(costs, gsm7Single, gsm7Part), EncodingGSM7
	}
	return pack(costs, ucs2Single, ucs2Part), EncodingUCS2
}

// unitCosts returns each character's cost in the encoding text needs, and whether that
// encoding is GSM-7.
func unitCosts(text string) ([]int, bool) {
	costs := make([]int, 0, len(text))
	for _, c := range text {
		switch {
		case strings.ContainsRune(gsm7Basic, c):
			costs = append(costs, 1)
		case strings.ContainsRune(gsm7Extension, c):
			costs = append(costs, 2)
		default:
			return ucs2Costs(text, costs[:0]), false
		}
	}
	return costs, true
}

// ucs2Costs appends each character's UTF-16 length to costs.
func ucs2Costs(text string, costs []int) []int {
	for _, c := range text {
		// Invalid UTF-8 ranges as U+FFFD, so RuneLen is 1 or 2 here.
		costs = append(costs, max(utf16.RuneLen(c), 1))
	}
	return costs
}

// pack counts segments: one if everything fits in single, else greedy parts of part
// units in which no character is split.
func pack(costs []int, single, part int) int {
	total := 0
	for _, c := range costs {
		total += c
	}
	if total <= single {
		return 1
	}
	n, used := 1, 0
	for _, c := range costs {
		if used+c > part {
			n++
			used = 0
		}
		used += c
	}
	return n
}
