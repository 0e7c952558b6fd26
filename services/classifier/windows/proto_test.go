package windows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestProtoRoundTrip(t *testing.T) {
	configWindow := weeklyPatch("globex")
	configWindow.ID = "config/weekly-patch"
	for _, w := range []*Window{dcMove(t), nightlyBackup(), weeklyPatch("globex"), configWindow} {
		t.Run(w.ID, func(t *testing.T) {
			p := ToProto(w, time.Now())
			got, err := FromProto(p)
			require.NoError(t, err)
			requireSameWindow(t, w, got)
			if w.Once != nil {
				require.Equal(t, w.Once.Start.Format(time.RFC3339), got.Once.Start.Format(time.RFC3339), "read back in its time zone")
			}
			require.NoError(t, Compile(got))
		})
	}
}

func TestToProto(t *testing.T) {
	ts := func(s string) *timestamppb.Timestamp { return timestamppb.New(at(t, s)) }
	cfg := nightlyBackup()
	cfg.ID = "config/nightly-db-backup"
	cases := []struct {
		name string
		w    *Window
		now  string
		want *amsv1.MaintenanceWindow
	}{
		{
			name: "one-off, before it starts",
			w:    dcMove(t),
			now:  "2026-11-30T00:00:00Z",
			want: &amsv1.MaintenanceWindow{
				Id: "rt-dcmove0001", Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
				Start: ts("2026-12-01T13:00:00Z"), End: ts("2026-12-01T19:00:00Z"), TimeZone: "Asia/Tokyo",
				CreatedBy: "alice", CreatedAt: ts("2026-11-20T10:00:00Z"), Origin: "runtime",
				NextStart: ts("2026-12-01T13:00:00Z"),
			},
		},
		{
			name: "one-off, while it is on",
			w:    dcMove(t),
			now:  "2026-12-01T14:00:00Z",
			want: &amsv1.MaintenanceWindow{
				Id: "rt-dcmove0001", Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
				Start: ts("2026-12-01T13:00:00Z"), End: ts("2026-12-01T19:00:00Z"), TimeZone: "Asia/Tokyo",
				CreatedBy: "alice", CreatedAt: ts("2026-11-20T10:00:00Z"), Origin: "runtime",
				Active: true, ActiveUntil: ts("2026-12-01T19:00:00Z"),
			},
		},
		{
			name: "one-off, over",
			w:    dcMove(t),
			now:  "2026-12-03T00:00:00Z",
			want: &amsv1.MaintenanceWindow{
				Id: "rt-dcmove0001", Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
				Start: ts("2026-12-01T13:00:00Z"), End: ts("2026-12-01T19:00:00Z"), TimeZone: "Asia/Tokyo",
				CreatedBy: "alice", CreatedAt: ts("2026-11-20T10:00:00Z"), Origin: "runtime",
			},
		},
		{
			name: "recurring from the configuration, while it is on",
			w:    cfg,
			now:  "2026-11-21T02:30:00+09:00",
			want: &amsv1.MaintenanceWindow{
				Id: "config/nightly-db-backup", Tenant: "acme", Name: "nightly-db-backup", Match: `alert.resource.host.startsWith("db-")`,
				Rrule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", Duration: durationpb.New(time.Hour), TimeZone: "Asia/Tokyo",
				Origin: "config",
				Active: true, ActiveUntil: ts("2026-11-21T03:00:00+09:00"), NextStart: ts("2026-11-22T02:00:00+09:00"),
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.NoError(t, Compile(tc.w))
			require.Equal(t, tc.want.String(), ToProto(tc.w, at(t, tc.now)).String())
		})
	}

	t.Run("not compiled is never active", func(t *testing.T) {
		p := ToProto(nightlyBackup(), at(t, "2026-11-21T02:30:00+09:00"))
		require.False(t, p.GetActive())
		require.Nil(t, p.GetNextStart())
		require.Equal(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", p.GetRrule())
	})
}

func TestFromProtoErrors(t *testing.T) {
	start, end := timestamppb.New(time.Date(2026, 12, 1, 13, 0, 0, 0, time.UTC)), timestamppb.New(time.Date(2026, 12, 1, 19, 0, 0, 0, time.UTC))
	cases := []struct {
		name string
		p    *amsv1.MaintenanceWindow
		want []string
	}{
		{name: "nil", p: nil, want: []string{"window: missing"}},
		{
			name: "no schedule",
			p:    &amsv1.MaintenanceWindow{Tenant: "acme", Name: "x", Match: "true"},
			want: []string{"start: missing: set start and end for a one-off window, or rrule or cron with duration and time_zone for a recurring one"},
		},
		{
			name: "both schedules",
			p:    &amsv1.MaintenanceWindow{Start: start, End: end, Cron: "0 3 * * SUN"},
			want: []string{"set either start and end (a one-off window) or rrule or cron with duration (a recurring window), not both"},
		},
		{
			name: "start without end",
			p:    &amsv1.MaintenanceWindow{Start: start},
			want: []string{"end: missing: a one-off window needs both start and end"},
		},
		{
			name: "one-off with a duration and a dtstart",
			p:    &amsv1.MaintenanceWindow{Start: start, End: end, Duration: durationpb.New(time.Hour), Dtstart: "2026-01-01T00:00:00"},
			want: []string{"duration: applies to rrule and cron only", "dtstart: applies to rrule only"},
		},
		{
			name: "recurring without a duration",
			p:    &amsv1.MaintenanceWindow{Rrule: "FREQ=DAILY", TimeZone: "UTC"},
			want: []string{"duration: missing: say how long each occurrence lasts, e.g. 2h"},
		},
		{
			name: "invalid timestamp",
			p:    &amsv1.MaintenanceWindow{Start: &timestamppb.Timestamp{Seconds: 1 << 62}, End: end},
			want: []string{"start: not a valid time"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, err := FromProto(tc.p)
			require.Nil(t, w)
			require.Error(t, err)
			for _, want := range tc.want {
				require.Contains(t, err.Error(), want)
			}
		})
	}
}
