package adapters

import (
	"context"

	"github.com/omnigate/omnigate"
)

// Profiler is an adapter that can look up a contact's display name in the carrier's
// user profile (Messenger's and Instagram's User Profile API).
type Profiler interface {
	// Profile returns the display name of contact as seen from our address ours on ch,
	// or "" when the carrier has none for them. Errors are *RetryableError,
	// *PermanentError or the context's error.
	Profile(ctx context.Context, ch omnigate.Channel, ours, contact string) (string, error)
}
