// Package policy is what a tenant's classifier file says: how alerts group
// into incidents and when those resolve, the ordered rules, the maintenance
// windows written in the file, and what counts as flapping. It parses and
// checks the file (every problem at once, with the line and the fix), keeps
// the policies in force for every tenant, reloads a file when it changes, and
// classifies an alert against a policy.
//
// It is a public package because the admin API (explain, replay, the
// configuration's maintenance windows) reads policies the way the classifier
// does; the engines it combines stay internal to the classifier.
package policy

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/classifier/internal/flapping"
	"github.com/amsproject/ams/services/classifier/internal/maintenance"
	"github.com/amsproject/ams/services/classifier/internal/rules"
)

// Incidents is the incidents: section of a tenant's file.
type Incidents struct {
	// GroupBy are the labels whose values group alerts into one incident
	// (e.g. [host]: one incident per host). Empty: one incident per alert
	// fingerprint. "resource.host" and the other resource fields may be
	// named as well as labels.
	GroupBy []string `yaml:"group_by"`
	// GroupWindow, with group_by, bounds how long after an incident opened
	// new alerts of its group join it; a later one opens a new incident
	// (the older one keeps its own alerts). Zero: they join while it is open.
	GroupWindow time.Duration `yaml:"group_window"`
	// ResolveDelay keeps an incident whose alerts have all resolved open
	// this long, so an alert firing again within it continues the same
	// incident instead of resolving and opening another.
	ResolveDelay time.Duration `yaml:"resolve_delay"`
	// ReopenWindow reopens a resolved incident when one of its group's
	// alerts fires again within this long after it resolved.
	ReopenWindow time.Duration `yaml:"reopen_window"`
	// Flapping says how many status changes of one alert within a window
	// make it flapping; unset takes flapping.DefaultConfig.
	Flapping *FlappingConfig `yaml:"flapping"`
}

// FlappingConfig is the flapping: section (see the flapping package).
type FlappingConfig struct {
	Threshold int           `yaml:"threshold"`
	Window    time.Duration `yaml:"window"`
	Quiet     time.Duration `yaml:"quiet"`
}

// document is a tenant's classifier file.
type document struct {
	Incidents   Incidents                  `yaml:"incidents"`
	Rules       []rules.Rule               `yaml:"rules"`
	Maintenance []maintenance.WindowConfig `yaml:"maintenance"`
}

// Tenant is one tenant's policy, compiled. It is immutable.
type Tenant struct {
	ID   string
	Name string
	// Source is the file the policy came from ("" for the default policy).
	Source string
	// Digest is the SHA-256 of the file's content, to notice changes.
	Digest    [32]byte
	Incidents Incidents
	Rules     *rules.Set
	// Windows are the maintenance windows written in the file, compiled.
	Windows  []*maintenance.Window
	Flapping *flapping.Detector
}

// groupByPattern is a label name or a resource field.
var groupByPattern = regexp.MustCompile(`^(resource\.(host|instance_id|account|region|service)|[A-Za-z_][A-Za-z0-9_.-]*)$`)

// Default is the policy of a tenant without a file: group by fingerprint,
// priority from severity, no rules, no windows, default flapping.
func Default(t config.Tenant) *Tenant {
	d, _ := flapping.New(flapping.DefaultConfig())
	return &Tenant{ID: t.ID, Name: t.Name, Flapping: d}
}

// Parse reads a tenant's classifier file strictly (an unknown key is an
// error) and compiles it. source names the file in errors; every problem is
// reported at once.
func Parse(data []byte, source string, t config.Tenant) (*Tenant, error) {
	var doc document
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, fmt.Errorf("%s: more than one YAML document; keep incidents, rules and maintenance in one", source)
	}

	var errs []error
	p := &Tenant{ID: t.ID, Name: t.Name, Source: source, Digest: sha256.Sum256(data), Incidents: doc.Incidents}
	for i, label := range doc.Incidents.GroupBy {
		if !groupByPattern.MatchString(label) {
			errs = append(errs, fmt.Errorf("%s: incidents.group_by[%d]: %q is not a label name or a resource field such as resource.host", source, i, label))
		}
	}
	switch {
	case doc.Incidents.GroupWindow < 0:
		errs = append(errs, fmt.Errorf("%s: incidents.group_window: must not be negative", source))
	case doc.Incidents.GroupWindow > 0 && len(doc.Incidents.GroupBy) == 0:
		errs = append(errs, fmt.Errorf("%s: incidents.group_window: only means something with group_by: set group_by (e.g. [host]) or remove group_window", source))
	}
	if doc.Incidents.ResolveDelay < 0 {
		errs = append(errs, fmt.Errorf("%s: incidents.resolve_delay: must not be negative", source))
	}
	if doc.Incidents.ReopenWindow < 0 {
		errs = append(errs, fmt.Errorf("%s: incidents.reopen_window: must not be negative", source))
	}
	fc := flapping.DefaultConfig()
	if f := doc.Incidents.Flapping; f != nil {
		fc = flapping.Config{Threshold: f.Threshold, Window: f.Window, Quiet: f.Quiet}
	}
	det, err := flapping.New(fc)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: incidents.flapping: %w", source, err))
	}
	p.Flapping = det

	set, err := rules.CompileDocument(doc.Rules, data, source)
	if err != nil {
		errs = append(errs, err)
	}
	p.Rules = set

	mc := maintenance.Config{Maintenance: doc.Maintenance}
	windows, err := mc.Windows(t.ID, CompileMatcher)
	if err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", source, err))
	}
	p.Windows = windows

	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// CompileMatcher compiles a maintenance window's match expression (CEL over
// alert), as the classifier does.
func CompileMatcher(expr string) (maintenance.Matcher, error) {
	m, err := rules.CompileMatcher(expr)
	if err != nil {
		// Not m: a nil *rules.Matcher in the interface would not be nil.
		return nil, err
	}
	return m, nil
}
