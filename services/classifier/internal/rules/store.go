package rules

import (
	"context"
	"maps"
	"slices"
	"sync/atomic"
)

// Store holds the current rule set of every tenant. A reload compiles the new
// sets first and then swaps them all in at once with Replace, so an evaluation
// sees either the old rules or the new ones, never a mix, and a file that does
// not compile never replaces working rules. The zero Store has no rules and is
// ready to use; it is safe for concurrent use.
type Store struct {
	sets atomic.Pointer[map[string]*Set]
}

// NewStore returns a Store holding sets (tenant id → rules).
func NewStore(sets map[string]*Set) *Store {
	s := &Store{}
	s.Replace(sets)
	return s
}

// Replace makes sets (tenant id → rules) the current rules, atomically. It
// keeps a copy, so the caller may reuse the map.
func (s *Store) Replace(sets map[string]*Set) {
	m := maps.Clone(sets)
	s.sets.Store(&m)
}

// Get returns the tenant's rules, nil when it has none (a nil *Set evaluates
// to an empty Decision).
func (s *Store) Get(tenant string) *Set {
	m := s.sets.Load()
	if m == nil {
		return nil
	}
	return (*m)[tenant]
}

// Tenants lists the tenants that have rules, sorted.
func (s *Store) Tenants() []string {
	m := s.sets.Load()
	if m == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(*m))
}

// Evaluate evaluates the current rules of in.Tenant.ID; see Set.Evaluate.
func (s *Store) Evaluate(ctx context.Context, in Input) (Decision, Trace) {
	return s.Get(in.Tenant.ID).Evaluate(ctx, in)
}
