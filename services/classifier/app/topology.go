package app

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/bus"
)

// The classifier's topology, in one place. It owns the INCIDENTS stream and
// the groups and incidents buckets, and the classifier-alerts consumer on ALERTS.
const (
	// IncidentsStream holds every incident event: ams.incident.<event>.<tenant>.
	IncidentsStream = "INCIDENTS"
	// IncidentsBucket holds each incident's current state under <tenant>.<incident id>.
	IncidentsBucket = "incidents"
	// GroupsBucket maps <tenant>.<group key hash> to the group's current incident.
	GroupsBucket = "incident-groups"
	alertsStream = "ALERTS"
	durable      = "classifier-alerts"
)

func incidentsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        IncidentsStream,
		Description: "Incident events from the classifier.",
		Subjects:    []string{"ams.incident.>"},
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Replicas:    replicas,
	}
}

func incidentsBucket(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      IncidentsBucket,
		Description: "Current state of each incident.",
		History:     5,
		Replicas:    replicas,
	}
}

func groupsBucket(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      GroupsBucket,
		Description: "Group key to current incident, or a tombstone after it resolved.",
		History:     1,
		Replicas:    replicas,
	}
}

func alertsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         alertsStream,
		Durable:        durable,
		Description:    "Classifier: alerts into incidents.",
		FilterSubjects: []string{"ams.alert.received.>"},
	}
}

// ensure creates what the classifier owns.
func ensure(ctx context.Context, js jetstream.JetStream, replicas int) (groups, incidents jetstream.KeyValue, err error) {
	if _, err := bus.EnsureStream(ctx, js, incidentsStream(replicas)); err != nil {
		return nil, nil, err
	}
	if incidents, err = bus.EnsureKV(ctx, js, incidentsBucket(replicas)); err != nil {
		return nil, nil, err
	}
	if groups, err = bus.EnsureKV(ctx, js, groupsBucket(replicas)); err != nil {
		return nil, nil, err
	}
	return groups, incidents, nil
}
