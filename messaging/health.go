package messaging

import (
	"context"
	"time"
)

// Ready checks what serving needs: the store answers, its schema is current, a policy
// is loaded. checks names each with its state; a policy whose last reload failed is
// still ready (the good one stays in force) and says so.
func (s *Service) Ready(ctx context.Context) (ready bool, checks map[string]string) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	checks = map[string]string{}
	ready = true
	if err := s.cfg.Store.Ping(ctx); err != nil {
		checks["store"], ready = "unreachable", false
	} else {
		checks["store"] = "ok"
	}
	if cur, err := s.cfg.Store.MigrationsCurrent(ctx); err != nil || !cur {
		checks["migrations"], ready = "pending", false
	} else {
		checks["migrations"] = "current"
	}
	if s.cfg.Policy() == nil {
		checks["policy"], ready = "not loaded", false
	} else {
		checks["policy"] = "loaded"
		if s.cfg.PolicyError != nil && s.cfg.PolicyError() != nil {
			checks["policy"] = "loaded; last reload failed"
		}
	}
	return ready, checks
}
