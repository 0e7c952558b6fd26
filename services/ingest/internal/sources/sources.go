// Package sources is the registry of source parsers: it maps the `source`
// key of an integration to the parser for that tool's payload.
package sources

import (
	"slices"

	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/alertmanager"
	"github.com/amsproject/ams/services/ingest/internal/source/generic"
)

// Source type names, as written in an integration's `source` key.
const (
	Alertmanager = "alertmanager"
	Generic      = "generic"
)

// parsers holds one parser per source type. Parsers are stateless.
var parsers = map[string]source.Parser{
	Alertmanager: alertmanager.Parser{},
	Generic:      generic.Parser{},
}

// Supported lists the source types, sorted, for error messages and docs.
func Supported() []string {
	names := make([]string, 0, len(parsers))
	for n := range parsers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ForName returns the parser for a source type.
func ForName(name string) (source.Parser, bool) {
	p, ok := parsers[name]
	return p, ok
}
