package rules

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestStore(t *testing.T) {
	var s Store // the zero Store is usable and has no rules
	require.Nil(t, s.Get("demo"))
	require.Empty(t, s.Tenants())
	d, _ := s.Evaluate(t.Context(), Input{Tenant: Tenant{ID: "demo"}})
	require.Equal(t, Decision{}, d)

	demo := mustLoad(t, `rules: [{name: p1, when: "true", set: {priority: P1}}]`)
	sets := map[string]*Set{"demo": demo}
	s.Replace(sets)
	sets["other"] = demo // Replace kept a copy
	require.Equal(t, []string{"demo"}, s.Tenants())
	require.Same(t, demo, s.Get("demo"))
	d, _ = s.Evaluate(t.Context(), Input{Tenant: Tenant{ID: "demo"}})
	require.Equal(t, amsv1.Priority_PRIORITY_P1, d.Priority)
	d, _ = s.Evaluate(t.Context(), Input{Tenant: Tenant{ID: "acme"}})
	require.Equal(t, Decision{}, d, "a tenant without rules gets an empty decision")
}

// Many goroutines evaluate while the rules are swapped under them: each
// evaluation sees one whole rule set (its decision matches its trace's
// source), never a mix, and the race detector finds nothing.
func TestStoreConcurrentSwap(t *testing.T) {
	versions := make([]*Set, 4)
	for v := range versions {
		var err error
		versions[v], err = Load([]byte(fmt.Sprintf(`rules:
  - {name: base, when: 'alert.labels.?alertname.orValue("") == "DiskFull"', set: {priority: P%d, category: v%d}}
  - {name: label, when: 'alert.labels.exists(k, v, k == "env" && v == "prod")', set: {labels: {version: "%d"}}}
  - {name: stop, when: "true", stop: true}
`, v+1, v, v)), fmt.Sprintf("v%d.yaml", v))
		require.NoError(t, err)
	}
	store := NewStore(map[string]*Set{"demo": versions[0]})

	ctx, cancel := context.WithCancel(t.Context())
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ctx.Err() == nil; i++ {
			store.Replace(map[string]*Set{"demo": versions[i%len(versions)], "acme": versions[(i+1)%len(versions)]})
			runtime.Gosched() // let the evaluations run between swaps on a small machine
		}
	})
	var seen sync.Map // sources evaluated
	var evals sync.WaitGroup
	for range 8 {
		evals.Go(func() {
			for range 100 {
				d, tr := store.Evaluate(ctx, Input{Alert: diskFull(), Tenant: Tenant{ID: "demo"}, Now: at})
				// assert, not require: FailNow must not run outside the test goroutine.
				var v int
				_, err := fmt.Sscanf(tr.Source, "v%d.yaml", &v)
				ok := assert.NoError(t, err) &&
					assert.Equal(t, amsv1.Priority(v+1), d.Priority) &&
					assert.Equal(t, fmt.Sprintf("v%d", v), d.Category) &&
					assert.Equal(t, map[string]string{"version": fmt.Sprint(v)}, d.Labels) &&
					assert.Equal(t, []string{"base", "label", "stop"}, d.MatchedRules)
				if !ok {
					return
				}
				seen.Store(tr.Source, true)
			}
		})
	}
	evals.Wait()
	cancel()
	swaps.Wait()
	n := 0
	seen.Range(func(any, any) bool { n++; return true })
	require.Greater(t, n, 1, "the rules were swapped while evaluations ran")
}
