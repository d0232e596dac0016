//go:build race

package outbox_test

// chaosMessages is how many messages TestChaosCarrier sends: fewer under the race
// detector, which slows every attempt several times over.
const chaosMessages = 300
