package bus

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the bus's consumer metrics, shared by every consumer in a
// process and told apart by the consumer label.
type Metrics struct {
	handled      *prometheus.CounterVec
	duration     *prometheus.HistogramVec
	deadLettered *prometheus.CounterVec
}

// NewMetrics registers the bus metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_bus_messages_handled_total",
			Help: "Messages handled by a consumer, by result: ack, nak, term.",
		}, []string{"consumer", "result"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ams_bus_handle_duration_seconds",
			Help:    "Time a consumer's handler took per message.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"consumer"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_bus_deadlettered_total",
			Help: "Messages copied to the DEADLETTER stream and terminated.",
		}, []string{"consumer"}),
	}
	reg.MustRegister(m.handled, m.duration, m.deadLettered)
	return m
}
