// Package sources is the registry of source parsers: it maps the `source`
// key of an integration to the parser for that tool's payload.
package sources

import (
	"slices"

	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/alertmanager"
	"github.com/amsproject/ams/services/ingest/internal/source/cloudwatch"
	"github.com/amsproject/ams/services/ingest/internal/source/datadog"
	"github.com/amsproject/ams/services/ingest/internal/source/generic"
	"github.com/amsproject/ams/services/ingest/internal/source/grafana"
	"github.com/amsproject/ams/services/ingest/internal/source/mackerel"
	"github.com/amsproject/ams/services/ingest/internal/source/pagerduty"
	"github.com/amsproject/ams/services/ingest/internal/source/pdevents"
	"github.com/amsproject/ams/services/ingest/internal/source/zabbix"
)

// Source type names, as written in an integration's `source` key.
const (
	Alertmanager    = "alertmanager"
	CloudWatch      = "cloudwatch"
	Datadog         = "datadog"
	Generic         = "generic"
	Grafana         = "grafana"
	Mackerel        = "mackerel"
	PagerDuty       = "pagerduty"
	PagerDutyEvents = "pagerduty-events"
	Zabbix          = "zabbix"
	// AWSDirectConnect is a pull source: ingest polls the tenant's AWS
	// account instead of parsing requests, so it has no parser.
	AWSDirectConnect = "awsdx"
)

// parsers holds one parser per push source type. Parsers are stateless.
var parsers = map[string]source.Parser{
	Alertmanager:    alertmanager.Parser{},
	CloudWatch:      cloudwatch.Parser{},
	Datadog:         datadog.Parser{},
	Generic:         generic.Parser{},
	Grafana:         grafana.Parser{},
	Mackerel:        mackerel.Parser{},
	PagerDuty:       pagerduty.Parser{},
	PagerDutyEvents: pdevents.Parser{},
	Zabbix:          zabbix.Parser{},
}

// Supported lists every source type, push and pull, sorted, for error
// messages and docs.
func Supported() []string {
	names := []string{AWSDirectConnect}
	for n := range parsers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ForName returns the parser for a push source type; false for a pull
// source or an unknown name.
func ForName(name string) (source.Parser, bool) {
	p, ok := parsers[name]
	return p, ok
}

// Credential is a kind of secret an integration can be configured with.
type Credential string

// Credential kinds, named as their config keys.
const (
	Tokens         Credential = "tokens"
	RoutingKeys    Credential = "routing_keys"
	SigningSecrets Credential = "signing_secrets"
	TopicARNs      Credential = "topic_arns"
	AWSAccount     Credential = "aws"
)

// Credentials says which credential kinds a source type takes; at least
// one of them must be configured.
func Credentials(src string) []Credential {
	switch src {
	case PagerDuty:
		return []Credential{SigningSecrets}
	case PagerDutyEvents:
		return []Credential{RoutingKeys}
	case CloudWatch:
		return []Credential{TopicARNs, Tokens} // SNS deliveries, EventBridge API destinations
	case AWSDirectConnect:
		return []Credential{AWSAccount}
	default:
		return []Credential{Tokens}
	}
}
