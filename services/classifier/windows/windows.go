// Package windows holds the maintenance windows created at runtime (amsctl
// maintenance add): their JetStream KV bucket and the store over it (KVStore),
// an in-memory view kept current by watching the bucket (Live), the matcher
// language (Compile, CEL over the alert, as in rules) and the conversion to
// and from the admin API's MaintenanceWindow message.
//
// It is the classifier's public face for maintenance windows: the window
// itself, its schedule and its JSON are internal/maintenance's, and the types
// are re-exported here as aliases so that the admin API in the ams module can
// name them.
package windows

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/services/classifier/internal/maintenance"
	"github.com/amsproject/ams/services/classifier/internal/rules"
)

// Window is one maintenance window of one tenant (see maintenance.Window).
type Window = maintenance.Window

// Once is a one-off window's schedule, [Start, End).
type Once = maintenance.Once

// Recurring is a recurring window's schedule: an RRULE or cron expression in
// a time zone, each occurrence lasting Duration.
type Recurring = maintenance.Recurring

// Store lists the windows created at runtime; KVStore is the implementation.
type Store = maintenance.Store

// ErrNotFound is returned when a store holds no window with the given id.
var ErrNotFound = maintenance.ErrNotFound

// Bucket is the KV bucket holding the runtime windows, each as Marshal's
// JSON under <tenant>.<id>.
const Bucket = "maintenance-windows"

// BucketConfig is the configuration of Bucket. Only the current version of a
// window matters: the admin API replaces or deletes it, and nothing reads
// its history.
func BucketConfig(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      Bucket,
		Description: "Maintenance windows created at runtime (amsctl maintenance add), as JSON under <tenant>.<id>.",
		History:     1,
		Replicas:    replicas,
	}
}

const (
	// ConfigIDPrefix starts the id of every window from the configuration
	// file: "config/<name>".
	ConfigIDPrefix = "config/"
	// RuntimeIDPrefix starts the id of every window created at runtime.
	RuntimeIDPrefix = "rt-"

	// OriginConfig is the origin of a window written in a classifier file.
	OriginConfig = "config"
	// OriginRuntime is the origin of a window created through the admin API.
	OriginRuntime = "runtime"

	// idLength is the number of random characters after RuntimeIDPrefix:
	// 50 bits, so ids chosen independently by several admin servers do not
	// collide.
	idLength = 10
	// maxIDLength bounds a runtime id read back from a key or a request.
	maxIDLength = 64
)

// NewID returns a new runtime window id: "rt-" and 10 random lowercase
// base32 characters.
func NewID() string {
	return RuntimeIDPrefix + strings.ToLower(rand.Text()[:idLength])
}

// IsRuntimeID reports whether id can name a runtime window: "rt-" followed
// by lowercase letters, digits, '-' or '_' (it is one token of a KV key).
func IsRuntimeID(id string) bool {
	rest, ok := strings.CutPrefix(id, RuntimeIDPrefix)
	if !ok || rest == "" || len(id) > maxIDLength {
		return false
	}
	for _, r := range rest {
		if !lowerToken(r) {
			return false
		}
	}
	return true
}

// Origin is OriginConfig for a window of the configuration file (its id
// starts with "config/"), OriginRuntime otherwise.
func Origin(w *Window) string {
	if strings.HasPrefix(w.ID, ConfigIDPrefix) {
		return OriginConfig
	}
	return OriginRuntime
}

// Compile validates w, builds its schedule and compiles its match
// expression as the classifier does (rules.CompileMatcher: CEL over alert
// and now). Every problem is reported, each naming the key that holds it.
func Compile(w *Window) error {
	return w.Compile(compileMatcher)
}

func compileMatcher(expr string) (maintenance.Matcher, error) {
	m, err := rules.CompileMatcher(expr)
	if err != nil {
		return nil, err // not a typed nil *Matcher in a non-nil interface
	}
	return m, nil
}

// ParseTime reads a time as RFC 3339 with an offset, or, when timeZone names
// an IANA zone, as local wall-clock time without one ("2026-12-01T22:00"),
// the way the configuration file's one-off windows are read.
func ParseTime(value, timeZone string) (time.Time, error) {
	return maintenance.ParseTime(value, timeZone)
}

// validTenant accepts a tenant id that can stand as one token of a key.
func validTenant(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !lowerToken(r) && (r < 'A' || r > 'Z') {
			return false
		}
	}
	return true
}

// lowerToken reports whether r may appear in an id: a lowercase letter, a
// digit, '-' or '_'.
func lowerToken(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_'
}
