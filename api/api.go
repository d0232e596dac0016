// Package api is the platform-facing REST API (api/openapi.yaml), a thin transport: each
// handler decodes the request, calls one method of messaging.Service (the one door to
// every use case, which checks the caller's visibility and owns its transaction), and
// encodes the answer. A refusal's kind becomes an HTTP status in one table (errors.go).
// Errors always have the shape {"error": {"code", "message", ...details}}. The package
// imports only the root package and messaging.
package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/omnigate/omnigate"
	"github.com/omnigate/omnigate/messaging"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() []byte { return openapiDoc }

// MaxBody is the largest request body the API accepts.
const MaxBody = 1 << 20

// Directory is the part of the configuration that names who may call and on behalf
// of what; it may change on reload. The API authenticates with Principals; the daemon
// hands Queues, the principals and DefaultCountry to messaging from the same snapshot.
type Directory struct {
	Queues         map[string]omnigate.Queue
	Principals     []Credential
	DefaultCountry string
}

// AllPrincipals returns the principals the credentials name.
func (d *Directory) AllPrincipals() []omnigate.Principal {
	out := make([]omnigate.Principal, 0, len(d.Principals))
	for _, c := range d.Principals {
		out = append(out, c.Principal)
	}
	return out
}

// Credential is a principal and the SHA-256 of its API key.
type Credential struct {
	KeySHA256 [32]byte
	Principal omnigate.Principal
}

// Config configures the API.
type Config struct {
	// Service is the one door to every use case; the API decodes, calls it, and
	// encodes its answer.
	Service   *messaging.Service
	Directory func() *Directory
	// RestartPending, when set, names the configuration changes that wait for a
	// restart; /readyz reports them.
	RestartPending func() []string
	Log            *slog.Logger
	// Observe, when set, is told each request's route, status and duration.
	Observe func(route string, code int, d time.Duration)
}

// Server is the API's http.Handler.
type Server struct {
	cfg      Config
	routes   []route
	mux      *http.ServeMux
	patterns []string
	frame    http.Handler
}

type route struct {
	pattern string
	h       http.Handler
}

// New returns the API server. Serve it on its own, or Mount its routes on the
// process's mux.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux()}
	s.addRoutes()
	for _, rt := range s.routes {
		s.Handle(rt.pattern, rt.h)
	}
	s.frame = Frame(s.mux, cfg.Log, cfg.Observe)
	return s
}

// Mount registers the API's routes on mux; wrap the mux in Frame.
func (s *Server) Mount(mux *http.ServeMux) {
	for _, rt := range s.routes {
		mux.Handle(rt.pattern, rt.h)
	}
}

// Handle registers h for pattern beside the API's routes on the server's own mux.
func (s *Server) Handle(pattern string, h http.Handler) {
	s.patterns = append(s.patterns, pattern)
	s.mux.Handle(pattern, h)
}

func (s *Server) handleFunc(pattern string, h http.HandlerFunc) {
	s.routes = append(s.routes, route{pattern, h})
}

// Patterns lists every pattern the server serves, as "METHOD /path" or "/path".
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// ServeHTTP implements http.Handler, framed as Frame frames.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.frame.ServeHTTP(w, r) }

func (s *Server) addRoutes() {
	s.handleFunc("POST /v1/messages", s.auth(omnigate.PermSend, s.send))
	s.handleFunc("POST /v1/messages/check", s.auth(omnigate.PermSend, s.check))
	s.handleFunc("GET /v1/messages/{id}", s.auth("", s.getMessage))
	s.handleFunc("GET /v1/queues", s.auth(omnigate.PermQueues, s.listQueues))
	s.handleFunc("GET /v1/queues/{id}/stats", s.auth(omnigate.PermQueues, s.queueStats))
	s.handleFunc("GET /v1/contacts", s.auth("", s.listContacts))
	s.handleFunc("GET /v1/conversations", s.auth("", s.listConversations))
	s.handleFunc("GET /v1/conversations/{id}", s.auth("", s.getConversation))
	s.handleFunc("POST /v1/conversations/{id}/assign", s.auth(omnigate.PermAssign, s.assign))
	s.handleFunc("POST /v1/conversations/{id}/transfer", s.auth("", s.transfer))
	s.handleFunc("POST /v1/conversations/{id}/disconnect", s.auth("", s.disconnect))
	s.handleFunc("POST /v1/conversations/{id}/wrapup", s.auth("", s.wrapup))
	s.handleFunc("POST /v1/conversations/{id}/typing", s.auth("", s.typing))
	s.handleFunc("GET /v1/templates", s.auth("", s.listTemplates))
	s.handleFunc("POST /v1/templates/sync", s.auth(omnigate.PermAdmin, s.syncTemplates))
	s.handleFunc("DELETE /v1/contacts/{channel}/{address}", s.auth(omnigate.PermAdmin, s.eraseContact))
	s.handleFunc("POST /v1/conversations/{id}/messages", s.auth(omnigate.PermSend, s.reply))
	s.handleFunc("GET /v1/media/{id}", s.auth("", s.media))
	s.handleFunc("GET /v1/outbox", s.auth(omnigate.PermAdmin, s.listOutbox))
	s.handleFunc("POST /v1/outbox/{id}/retry", s.auth(omnigate.PermAdmin, s.retryOutbox))
	s.handleFunc("GET /healthz", s.healthz)
	s.handleFunc("GET /readyz", s.readyz)
	s.handleFunc("GET /openapi.yaml", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		w.Write(openapiDoc)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

// Unwrap lets http.ResponseController reach the connection (flushes and deadlines for
// streamed responses such as the sandbox console's events).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Frame wraps the process's mux with what every HTTP answer shares: a request id
// (X-Request-Id, the caller's when it sends a sane one), an access log line, the
// observation of each route's status and duration (observe may be nil), and the
// {"error": ...} shape for requests no route takes.
func Frame(mux *http.ServeMux, log *slog.Logger, observe func(route string, code int, d time.Duration)) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &framed{mux: mux, log: log, observe: observe}
}

type framed struct {
	mux     *http.ServeMux
	log     *slog.Logger
	observe func(route string, code int, d time.Duration)
}

func (f *framed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rid := r.Header.Get("X-Request-Id")
	if rid == "" || len(rid) > 128 {
		rid = messaging.NewID("req")
	}
	w.Header().Set("X-Request-Id", rid)
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	if h, pattern := f.mux.Handler(r); pattern == "" {
		unmatched(rec, r, h)
	} else {
		f.mux.ServeHTTP(rec, r)
	}
	d := time.Since(start)
	route := r.Pattern
	if route == "" {
		route = "unmatched"
	}
	if f.observe != nil {
		f.observe(route, rec.code, d)
	}
	f.log.Debug("http", "request_id", rid, "route", route, "status", rec.code, "duration", d)
}

// unmatched answers a request no route takes with the error shape every other answer
// has: 404 not_found, or 405 method_not_allowed with the Allow header the mux computed.
// Anything else the mux would do (a redirect to the canonical path) is passed through.
func unmatched(w http.ResponseWriter, r *http.Request, h http.Handler) {
	cw := &captureWriter{header: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(cw, r)
	switch cw.code {
	case http.StatusNotFound:
		writeError(w, http.StatusNotFound, "not_found", "no such route; see GET /openapi.yaml", nil)
	case http.StatusMethodNotAllowed:
		allow := cw.header.Get("Allow")
		w.Header().Set("Allow", allow)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "this route accepts "+allow, map[string]any{"allow": allow})
	default:
		for k, v := range cw.header {
			w.Header()[k] = v
		}
		w.WriteHeader(cw.code)
		w.Write(cw.body.Bytes())
	}
}

// captureWriter keeps what a handler answers, to be rewritten before it is sent.
type captureWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (c *captureWriter) Header() http.Header         { return c.header }
func (c *captureWriter) WriteHeader(code int)        { c.code = code }
func (c *captureWriter) Write(p []byte) (int, error) { return c.body.Write(p) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func errorBody(code, message string, details map[string]any) map[string]any {
	e := map[string]any{"code": code, "message": message}
	for k, v := range details {
		e[k] = v
	}
	return map[string]any{"error": e}
}

func writeError(w http.ResponseWriter, status int, code, message string, details map[string]any) {
	writeJSON(w, status, errorBody(code, message, details))
}

// writeErr answers a service or store error: refusals with their code, anything else
// as a 500 whose detail stays in the log.
func (s *Server) writeErr(w http.ResponseWriter, r *http.Request, err error) {
	var me *messaging.Error
	switch {
	case errors.As(err, &me):
		status, code := httpError(me)
		writeError(w, status, code, me.Message, me.Details)
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "canceled", "the request was canceled", nil)
	default:
		s.cfg.Log.Error("api: internal error", "route", r.Pattern, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error; see the server log", nil)
	}
}

type principalKey struct{}

func principalOf(r *http.Request) omnigate.Principal {
	p, _ := r.Context().Value(principalKey{}).(omnigate.Principal)
	return p
}

// authenticate finds the principal whose key hash matches, comparing every hash in
// constant time so the comparison tells nothing about near misses.
func (s *Server) authenticate(r *http.Request) (omnigate.Principal, bool) {
	h := r.Header.Get("Authorization")
	const prefix = "Bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return omnigate.Principal{}, false
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(h[len(prefix):])))
	var found omnigate.Principal
	ok := 0
	for _, c := range s.cfg.Directory().Principals {
		if subtle.ConstantTimeCompare(sum[:], c.KeySHA256[:]) == 1 {
			found, ok = c.Principal, 1
		}
	}
	return found, ok == 1
}

func (s *Server) auth(perm string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, ok := s.authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="omnigate"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a valid API key is required (Authorization: Bearer <key>)", nil)
			return
		}
		if perm != "" && !p.Can(perm) {
			writeError(w, http.StatusForbidden, "forbidden", "this key lacks the "+perm+" permission", map[string]any{"permission": perm})
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	}
}

// jsonProblem describes a decoding error without echoing the body.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return "syntax error at byte " + itoa(int(se.Offset))
	case errors.As(err, &te):
		return "field " + te.Field + " must be " + te.Type.String()
	case errors.Is(err, io.EOF):
		return "empty body"
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
		// The name is the caller's own input: quote it, but never a megabyte of it back.
		if name, err := strconv.Unquote(name); err == nil {
			return "unknown field " + quoteKey(name)
		}
		return "unknown field"
	}
	return "unexpected content"
}

func itoa(n int) string { return strconv.Itoa(n) }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ready, checks := s.cfg.Service.Ready(r.Context())
	if s.cfg.RestartPending != nil {
		// Still ready: the running configuration serves as before. A failing probe
		// would take every instance out of service at once after a config push.
		checks["config"] = "current"
		if keys := s.cfg.RestartPending(); len(keys) > 0 {
			checks["config"] = "restart pending: " + strings.Join(keys, ", ") + " changed"
		}
	}
	status := http.StatusOK
	if !ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, map[string]any{"ready": ready, "checks": checks})
}
