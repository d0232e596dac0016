//go:build !race

package outbox_test

// chaosMessages is how many messages TestChaosCarrier sends.
const chaosMessages = 2000
