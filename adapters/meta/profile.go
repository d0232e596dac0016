package meta

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/adapters"
)

var _ adapters.Profiler = (*Meta)(nil)

// maxNameRunes bounds a display name taken from a profile.
const maxNameRunes = 128

// profileFields are the User Profile API fields read per channel: Messenger's first and
// last name, Instagram's name and, for users without one, their username.
var profileFields = map[omnigate.Channel]string{
	omnigate.Messenger: "first_name,last_name",
	omnigate.Instagram: "name,username",
}

// Profile reads the contact's profile through the Graph API with the page's (or the
// Instagram account's) token: Messenger's first_name and last_name, Instagram's name,
// else its username. It returns "" for a user without any.
func (m *Meta) Profile(ctx context.Context, ch omnigate.Channel, ours, contact string) (string, error) {
	fields, ok := profileFields[ch]
	if !ok {
		return "", adapters.Permanent(codeBadChannel, fmt.Sprintf("no user profiles on %s", ch), nil)
	}
	token, ok := m.cfg.PageTokens[ours]
	if !ok || token == "" {
		return "", adapters.Permanent(codeUnknownSender, "no page token for "+ours, nil)
	}
	var p struct {
		FirstName string `json:"first_name"`
		LastName  string `json:"last_name"`
		Name      string `json:"name"`
		Username  string `json:"username"`
	}
	if err := m.get(ctx, "/"+url.PathEscape(contact)+"?fields="+url.QueryEscape(fields), token, &p); err != nil {
		return "", err
	}
	if ch == omnigate.Messenger {
		return cleanName(p.FirstName + " " + p.LastName), nil
	}
	if n := cleanName(p.Name); n != "" {
		return n, nil
	}
	return cleanName(p.Username), nil
}

// cleanName keeps a profile name fit to show: control and format characters dropped,
// spaces collapsed, at most maxNameRunes runes.
func cleanName(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > maxNameRunes {
		s = string(r[:maxNameRunes])
	}
	return s
}
