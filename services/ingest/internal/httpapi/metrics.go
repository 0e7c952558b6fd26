package httpapi

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Rejection reasons, the reason label of ams_ingest_requests_rejected_total.
const (
	reasonUnknownIntegration = "unknown_integration"
	reasonUnauthorized       = "unauthorized"
	reasonTooLarge           = "too_large"
	reasonBadRequest         = "bad_request"
	reasonUnavailable        = "unavailable"
)

// Metrics are ingest's request metrics. The integration label is the
// configured integration's name, or empty when the name in the URL matched
// none: URL text is attacker-chosen and must not create label values.
type Metrics struct {
	accepted  *prometheus.CounterVec
	duplicate *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	ignored   *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// NewMetrics registers the metrics with reg. It returns an error rather than
// panicking when they are already registered (two ingests in one registry).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		accepted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_ingest_alerts_accepted_total",
			Help: "Alerts stored in the ALERTS stream for the first time.",
		}, []string{"integration"}),
		duplicate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_ingest_alerts_duplicate_total",
			Help: "Alerts the ALERTS stream already held (a re-sent notification within the duplicate window).",
		}, []string{"integration"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_ingest_requests_rejected_total",
			Help: "Requests answered with an error, by reason: unknown_integration, unauthorized, too_large, bad_request, unavailable.",
		}, []string{"integration", "reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_ingest_requests_ignored_total",
			Help: "Genuine requests that carried no alert (pings, subscription confirmations, event types AMS does not track), answered with success.",
		}, []string{"integration"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ams_ingest_request_duration_seconds",
			Help:    "Time from receiving a request to answering it, including waiting for JetStream to store its alerts.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"integration"}),
	}
	for _, c := range []prometheus.Collector{m.accepted, m.duplicate, m.rejected, m.ignored, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register ingest metrics: %w", err)
		}
	}
	return m, nil
}
