// Package policy holds the per-platform messaging rules of omnigate: which outbound
// messages each carrier will accept and what an adapter must add to them (a
// HUMAN_AGENT tag, a template, a reply budget).
//
// Operators write the rules in policy.yaml (docs/configuration.md). [Parse] and [Load] decode
// it strictly and report every problem with its line and column; [Default] gives the
// built-in rules when no file is configured; a [Holder] keeps the current policy and
// reloads it on change without ever replacing a good policy with a bad one.
//
// [Decide] and [Recheck] are pure functions of (rules, conversation facts, message,
// now): messaging calls Decide inside the transaction that stores a message, and the
// relay calls Recheck just before each delivery attempt, so a message that waited past
// its window is failed with rule policy_expired instead of being sent.
//
// The package speaks the root package's Channel and Sender types and imports nothing
// else of omnigate's but the shared file helpers (yamlfile, filewatch).
package policy
