package replay

import (
	"container/heap"
	"time"
)

// entry is one scheduled review.
type entry struct {
	at  time.Time
	seq uint64
	rec *record
}

// reviewQueue holds the scheduled reviews, earliest first; reviews due at
// the same time run in the order they were asked for. A replaced schedule
// stays in the queue and is skipped when popped (its seq is no longer the
// incident's).
type reviewQueue struct {
	h    entries
	next uint64
}

// push schedules a review of rec at at and returns its sequence number.
func (q *reviewQueue) push(at time.Time, rec *record) uint64 {
	q.next++
	heap.Push(&q.h, entry{at: at, seq: q.next, rec: rec})
	return q.next
}

// popDue removes and returns the earliest review if it is due at or before t.
func (q *reviewQueue) popDue(t time.Time) (entry, bool) {
	if len(q.h) == 0 || q.h[0].at.After(t) {
		return entry{}, false
	}
	return heap.Pop(&q.h).(entry), true
}

type entries []entry

func (h entries) Len() int { return len(h) }
func (h entries) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h entries) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *entries) Push(x any)   { *h = append(*h, x.(entry)) }
func (h *entries) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = entry{}
	*h = old[:len(old)-1]
	return e
}
