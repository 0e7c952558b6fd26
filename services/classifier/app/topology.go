package app

import (
	"context"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/services/classifier/windows"
)

// The classifier's topology, in one place. It owns the INCIDENTS and
// CLASSIFIER_REVIEWS streams, the groups, incidents and maintenance-windows
// buckets, and the classifier-alerts consumer on ALERTS.
const (
	// IncidentsStream holds every incident event: ams.incident.<event>.<tenant>.
	IncidentsStream = "INCIDENTS"
	// IncidentsBucket holds each incident's current state under <tenant>.<incident id>.
	IncidentsBucket = "incidents"
	// GroupsBucket maps <tenant>.<group key hash> to the group's current incident.
	GroupsBucket = "incident-groups"
	// ReviewsStream holds the classifier's durable wake-ups: schedules on
	// ams.classifier.review.at.<tenant>.<incident>, which JetStream fires on
	// ams.classifier.review.due.<tenant>.<incident>.
	ReviewsStream = "CLASSIFIER_REVIEWS"
	alertsStream  = "ALERTS"
	durable       = "classifier-alerts"
	reviewDurable = "classifier-reviews"
)

func reviewSubject(kind, tenant, id string) string {
	return "ams.classifier.review." + kind + "." + tenant + "." + id
}

func parseReviewSubject(subject string) (tenant, id string, ok bool) {
	parts := strings.Split(subject, ".")
	if len(parts) != 6 || parts[3] != "due" {
		return "", "", false
	}
	return parts[4], parts[5], true
}

// reviewsStream keeps one message per subject, so a later schedule for an
// incident replaces the earlier one, and is a work queue, so a handled
// wake-up is removed.
func reviewsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              ReviewsStream,
		Description:       "Classifier reviews: when to look at an incident again (end of a delay, a maintenance window, flapping, the resolve delay).",
		Subjects:          []string{"ams.classifier.review.>"},
		Retention:         jetstream.WorkQueuePolicy,
		MaxMsgsPerSubject: 1,
		AllowMsgSchedules: true,
		Replicas:          replicas,
	}
}

// actionsConsumer and escalationsConsumer follow an incident through
// automation and paging, to show it automating or escalated.
func actionsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:      "ACTIONS",
		Durable:     "classifier-actions",
		Description: "Classifier: mark incidents automation works on.",
		// Only runs that start: a completed run is followed by a page
		// (escalated) or by its alerts resolving, and reading every result
		// would cost a delivery per incident for nothing.
		FilterSubjects: []string{"ams.action.started.>"},
		// The executor's stream: the classifier classifies without it.
		Optional: true,
	}
}

func escalationsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         "ESCALATIONS",
		Durable:        "classifier-escalations",
		Description:    "Classifier: mark incidents a human was paged for.",
		FilterSubjects: []string{"ams.escalation.escalated.>"},
		Optional:       true,
	}
}

func reviewsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         ReviewsStream,
		Durable:        reviewDurable,
		Description:    "Classifier: review incidents when their time comes.",
		FilterSubjects: []string{"ams.classifier.review.due.>"},
	}
}

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

type topology struct {
	groups, incidents, windows jetstream.KeyValue
}

// ensure creates what the classifier owns.
func ensure(ctx context.Context, js jetstream.JetStream, replicas int) (t topology, err error) {
	if _, err := bus.EnsureStream(ctx, js, incidentsStream(replicas)); err != nil {
		return t, err
	}
	if _, err := bus.EnsureStream(ctx, js, reviewsStream(replicas)); err != nil {
		return t, err
	}
	if t.incidents, err = bus.EnsureKV(ctx, js, incidentsBucket(replicas)); err != nil {
		return t, err
	}
	if t.groups, err = bus.EnsureKV(ctx, js, groupsBucket(replicas)); err != nil {
		return t, err
	}
	if t.windows, err = bus.EnsureKV(ctx, js, windows.BucketConfig(replicas)); err != nil {
		return t, err
	}
	return t, nil
}
