package publish

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestMsgID(t *testing.T) {
	base := func() *amsv1.Alert {
		return &amsv1.Alert{
			Id: "id-1", Tenant: "acme", Integration: "acme-am", Fingerprint: "fp",
			Status:     amsv1.AlertStatus_ALERT_STATUS_FIRING,
			StartsAt:   timestamppb.New(time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC)),
			ReceivedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
			Summary:    "s",
		}
	}
	want := MsgID(base())
	require.Regexp(t, `^alert:[0-9a-f]{64}$`, want)

	same := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"new id (a re-sent notification)", func(a *amsv1.Alert) { a.Id = "id-2" }},
		{"later receive time", func(a *amsv1.Alert) { a.ReceivedAt = timestamppb.Now() }},
		{"changed text", func(a *amsv1.Alert) { a.Summary = "other" }},
		{"same start in another zone", func(a *amsv1.Alert) {
			a.StartsAt = timestamppb.New(time.Date(2024, 5, 1, 20, 0, 0, 0, time.FixedZone("JST", 9*3600)))
		}},
	}
	for _, tt := range same {
		t.Run("same key: "+tt.name, func(t *testing.T) {
			a := base()
			tt.mutate(a)
			require.Equal(t, want, MsgID(a))
		})
	}

	differ := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"tenant", func(a *amsv1.Alert) { a.Tenant = "beta" }},
		{"integration", func(a *amsv1.Alert) { a.Integration = "acme-generic" }},
		{"fingerprint", func(a *amsv1.Alert) { a.Fingerprint = "fp2" }},
		{"status", func(a *amsv1.Alert) { a.Status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED }},
		{"starts_at", func(a *amsv1.Alert) { a.StartsAt = timestamppb.New(a.StartsAt.AsTime().Add(time.Nanosecond)) }},
		{"no starts_at", func(a *amsv1.Alert) { a.StartsAt = nil }},
	}
	for _, tt := range differ {
		t.Run("new key: "+tt.name, func(t *testing.T) {
			a := base()
			tt.mutate(a)
			require.NotEqual(t, want, MsgID(a))
		})
	}
}
