package dxmonitor

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the monitor's. Every label value comes from configuration
// (tenant, integration, region) or this package (result), never from AWS
// data, so the series count is bounded by the config.
type metrics struct {
	polls     *prometheus.CounterVec
	vifsDown  *prometheus.GaugeVec
	peersDown *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	labels := []string{"tenant", "integration", "region"}
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_ingest_awsdx_polls_total",
			Help: "Direct Connect polls of one account and region, by result: ok, access_denied (the customer's role refused or lacks directconnect:DescribeVirtualInterfaces), throttled, aws_error, state_error, publish_error.",
		}, append(labels, "result")),
		vifsDown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ams_ingest_awsdx_vifs_down",
			Help: "Direct Connect virtual interfaces with an open outage, as of the last successful poll.",
		}, labels),
		peersDown: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ams_ingest_awsdx_bgp_peers_down",
			Help: "BGP peers down on available virtual interfaces, as of the last successful poll.",
		}, labels),
	}
	for _, c := range []prometheus.Collector{m.polls, m.vifsDown, m.peersDown} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("register awsdx metrics: %w", err)
		}
	}
	return m, nil
}
