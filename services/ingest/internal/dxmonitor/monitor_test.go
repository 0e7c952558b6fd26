package dxmonitor

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

const (
	acmeAccount   = "111111111111"
	globexAccount = "222222222222"
	tokyo         = "ap-northeast-1"
	osaka         = "ap-northeast-3"
)

var (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
)

// setVIF changes a fake VIF under the fake's lock.
func setVIF(h *harness, v *fakeVIF, state string, peerStatus ...string) {
	h.aws.update(func() {
		v.VirtualInterfaceState = state
		for i, s := range peerStatus {
			v.BGPPeers[i].BGPStatus = s
		}
	})
}

func poll(tb testing.TB, m *Monitor) {
	tb.Helper()
	require.NoError(tb, m.PollOnce(context.Background()))
}

func requireNoSecret(tb testing.TB, alerts []*amsv1.Alert) {
	tb.Helper()
	for _, a := range alerts {
		j, err := protojson.Marshal(a)
		require.NoError(tb, err)
		require.NotContains(tb, string(j), testAuthKey, "the BGP auth key is a secret and must not reach an alert")
	}
}

func TestVIFDownFiresOnceAndResolvesWithTheSameFingerprint(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	m, reg := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})

	poll(t, m)
	require.Empty(t, h.published(t), "an available VIF raises nothing")
	require.Empty(t, h.stateKeys(t), "and keeps nothing")

	downAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "down", "down", "down")
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 1)
	a := got[0]
	require.Equal(t, "alert-1", a.GetId())
	require.Equal(t, "acme", a.GetTenant())
	require.Equal(t, "acme-dx", a.GetIntegration())
	require.Equal(t, "awsdx", a.GetSource())
	require.Equal(t, firing, a.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
	require.Equal(t, VIFFingerprint(tokyo, "dxvif-ffg1a2b3"), a.GetFingerprint())
	require.Equal(t, "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) is down", a.GetSummary())
	require.Contains(t, a.GetDescription(), "connection dxcon-fgab1234, VLAN 101, location EqDC2")
	require.Equal(t, downAt, a.GetStartsAt().AsTime())
	require.Nil(t, a.GetEndsAt())
	require.Equal(t, downAt, a.GetReceivedAt().AsTime())
	require.Equal(t, &amsv1.Resource{Host: "dxvif-ffg1a2b3", Account: acmeAccount, Region: tokyo, Service: "directconnect"},
		&amsv1.Resource{Host: a.GetResource().GetHost(), Account: a.GetResource().GetAccount(), Region: a.GetResource().GetRegion(), Service: a.GetResource().GetService()})
	require.Equal(t, map[string]string{
		"check":         "vif_state",
		"vif_id":        "dxvif-ffg1a2b3",
		"vif_name":      "acme-prod",
		"vif_state":     "down",
		"vif_type":      "private",
		"connection_id": "dxcon-fgab1234",
		"vlan":          "101",
		"asn":           "65000",
		"location":      "EqDC2",
		"owner_account": acmeAccount,
	}, a.GetLabels())
	require.Len(t, a.GetLinks(), 1)
	require.Equal(t, "https://ap-northeast-1.console.aws.amazon.com/directconnect/v2/home?region=ap-northeast-1#/virtual-interfaces/arn:aws:directconnect:ap-northeast-1:111111111111:dxvif-ffg1a2b3",
		a.GetLinks()[0].GetUrl())
	require.Equal(t, []string{"acme.acme-dx.ap-northeast-1.dxvif-ffg1a2b3"}, h.stateKeys(t))
	down, _ := metricValue(t, reg, "ams_ingest_awsdx_vifs_down", map[string]string{"tenant": "acme", "integration": "acme-dx", "region": tokyo})
	require.Equal(t, 1.0, down)
	peersDown, _ := metricValue(t, reg, "ams_ingest_awsdx_bgp_peers_down", map[string]string{"tenant": "acme", "integration": "acme-dx", "region": tokyo})
	require.Equal(t, 0.0, peersDown, "the peers of a down VIF are the VIF's outage, not alerts of their own")

	for range 3 {
		h.clock.Advance(time.Minute)
		poll(t, m)
	}
	require.Len(t, h.published(t), 1, "a VIF that stays down raises nothing more")

	upAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "up", "up")
	poll(t, m)
	got = h.published(t)
	require.Len(t, got, 2)
	r := got[1]
	require.Equal(t, resolved, r.GetStatus())
	require.Equal(t, a.GetFingerprint(), r.GetFingerprint())
	require.Equal(t, "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) is available again", r.GetSummary())
	require.Equal(t, downAt, r.GetStartsAt().AsTime(), "the resolve names the outage it ends")
	require.Equal(t, upAt, r.GetEndsAt().AsTime())
	require.Equal(t, "available", r.GetAnnotations()["end_cause"])
	require.Empty(t, h.stateKeys(t), "nothing open, nothing kept")
	down, _ = metricValue(t, reg, "ams_ingest_awsdx_vifs_down", map[string]string{"tenant": "acme", "integration": "acme-dx", "region": tokyo})
	require.Equal(t, 0.0, down)

	poll(t, m)
	require.Len(t, h.published(t), 2, "an available VIF stays quiet")
	require.Equal(t, 7.0, polls(t, reg, "acme", "acme-dx", tokyo, "ok"))
	require.Equal(t, []assumeCall{{RoleARN: role.arn, ExternalID: "ext-acme", SessionName: sessionName, Accepted: true}},
		h.aws.assumeCalls(), "the role is assumed once and its session reused")
	requireNoSecret(t, h.published(t))
}

func TestBGPPeerDownAndUpIsItsOwnAlert(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	m, reg := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})

	downAt := h.clock.Now()
	setVIF(h, v, "available", "up", "down")
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 1)
	a := got[0]
	require.Equal(t, firing, a.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_ERROR, a.GetSeverity())
	require.Equal(t, PeerFingerprint(tokyo, "dxvif-ffg1a2b3", "dxpeer-ffg1a2b36"), a.GetFingerprint())
	require.NotEqual(t, VIFFingerprint(tokyo, "dxvif-ffg1a2b3"), a.GetFingerprint())
	require.Equal(t, "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) BGP peer dxpeer-ffg1a2b36 (ipv6) is down", a.GetSummary())
	require.Equal(t, "bgp_peer", a.GetLabels()["check"])
	require.Equal(t, "dxpeer-ffg1a2b36", a.GetLabels()["bgp_peer_id"])
	require.Equal(t, "ipv6", a.GetLabels()["address_family"])
	require.Equal(t, "down", a.GetLabels()["bgp_status"])
	require.Equal(t, "available", a.GetLabels()["vif_state"])
	require.Equal(t, downAt, a.GetStartsAt().AsTime())
	peersDown, _ := metricValue(t, reg, "ams_ingest_awsdx_bgp_peers_down", map[string]string{"tenant": "acme", "integration": "acme-dx", "region": tokyo})
	require.Equal(t, 1.0, peersDown)

	h.clock.Advance(time.Minute)
	poll(t, m)
	require.Len(t, h.published(t), 1, "a peer that stays down raises nothing more")

	upAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "up", "up")
	poll(t, m)
	got = h.published(t)
	require.Len(t, got, 2)
	r := got[1]
	require.Equal(t, resolved, r.GetStatus())
	require.Equal(t, a.GetFingerprint(), r.GetFingerprint())
	require.Equal(t, "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) BGP peer dxpeer-ffg1a2b36 (ipv6) is up again", r.GetSummary())
	require.Equal(t, downAt, r.GetStartsAt().AsTime())
	require.Equal(t, upAt, r.GetEndsAt().AsTime())
	require.Empty(t, h.stateKeys(t))
	requireNoSecret(t, got)
}

func TestVIFOutageCoversItsPeersThenAPeerStillDownFiresAfterTheVIFResolves(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})

	setVIF(h, v, "down", "down", "down")
	poll(t, m)
	require.Len(t, h.published(t), 1, "one alert for one outage, not one per peer as well")

	backAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "down", "up")
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 3)
	require.Equal(t, resolved, got[1].GetStatus())
	require.Equal(t, VIFFingerprint(tokyo, "dxvif-ffg1a2b3"), got[1].GetFingerprint())
	require.Equal(t, firing, got[2].GetStatus())
	require.Equal(t, PeerFingerprint(tokyo, "dxvif-ffg1a2b3", "dxpeer-ffg1a2b34"), got[2].GetFingerprint())
	require.Equal(t, backAt, got[2].GetStartsAt().AsTime())

	setVIF(h, v, "available", "up", "up")
	poll(t, m)
	got = h.published(t)
	require.Len(t, got, 4)
	require.Equal(t, resolved, got[3].GetStatus())
	require.Equal(t, got[2].GetFingerprint(), got[3].GetFingerprint())
}

func TestRestartWhileDownNeitherRepeatsNorForgetsTheOutage(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	targets := []Target{targetFor("acme", "acme-dx", role, tokyo)}

	downAt := h.clock.Now()
	setVIF(h, v, "down", "down", "down")
	first, _ := h.monitor(t, targets)
	poll(t, first)
	require.Len(t, h.published(t), 1)

	// A new process: new monitor, new metrics, no memory but the bucket.
	second, reg := h.monitor(t, targets)
	h.clock.Advance(time.Minute)
	poll(t, second)
	h.clock.Advance(time.Minute)
	poll(t, second)
	require.Len(t, h.published(t), 1, "the restarted monitor knows the outage was already raised")
	down, _ := metricValue(t, reg, "ams_ingest_awsdx_vifs_down", map[string]string{"tenant": "acme", "integration": "acme-dx", "region": tokyo})
	require.Equal(t, 1.0, down)

	upAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "up", "up")
	poll(t, second)
	got := h.published(t)
	require.Len(t, got, 2)
	require.Equal(t, resolved, got[1].GetStatus())
	require.Equal(t, got[0].GetFingerprint(), got[1].GetFingerprint())
	require.Equal(t, downAt, got[1].GetStartsAt().AsTime(), "the restarted monitor resolves the outage the first one raised")
	require.Equal(t, upAt, got[1].GetEndsAt().AsTime())
}

func TestDeletedVIFResolvesItsOpenAlerts(t *testing.T) {
	tests := []struct {
		name    string
		delete  func(h *harness, role *fakeRole, v *fakeVIF)
		summary string
		cause   string
	}{
		{
			name:    "state deleting",
			delete:  func(h *harness, _ *fakeRole, v *fakeVIF) { setVIF(h, v, "deleting", "down", "down") },
			summary: "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) is being deleted",
			cause:   "deleting",
		},
		{
			name:    "state deleted",
			delete:  func(h *harness, _ *fakeRole, v *fakeVIF) { setVIF(h, v, "deleted", "down", "down") },
			summary: "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) was deleted",
			cause:   "deleted",
		},
		{
			name: "no longer listed",
			delete: func(h *harness, role *fakeRole, _ *fakeVIF) {
				h.aws.update(func() { role.vifs[tokyo] = nil })
			},
			summary: "Direct Connect VIF dxvif-ffg1a2b3 (acme-prod) was deleted",
			cause:   "deleted",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			role := h.aws.addRole(acmeAccount, "ext-acme")
			v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
			h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
			m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})

			// A peer goes down first, then the whole VIF: two open alerts.
			setVIF(h, v, "available", "up", "down")
			poll(t, m)
			h.clock.Advance(time.Minute)
			setVIF(h, v, "down", "down", "down")
			poll(t, m)
			require.Len(t, h.published(t), 2)

			goneAt := h.clock.Advance(time.Minute)
			tt.delete(h, role, v)
			poll(t, m)
			got := h.published(t)
			require.Len(t, got, 4, "both open alerts resolve: a deleted VIF never comes back to resolve them")
			vifResolve, peerResolve := got[2], got[3]
			require.Equal(t, resolved, vifResolve.GetStatus())
			require.Equal(t, VIFFingerprint(tokyo, "dxvif-ffg1a2b3"), vifResolve.GetFingerprint())
			require.Equal(t, tt.summary, vifResolve.GetSummary())
			require.Equal(t, tt.cause, vifResolve.GetAnnotations()["end_cause"])
			require.Equal(t, goneAt, vifResolve.GetEndsAt().AsTime())
			require.Equal(t, resolved, peerResolve.GetStatus())
			require.Equal(t, got[0].GetFingerprint(), peerResolve.GetFingerprint())
			require.Empty(t, h.stateKeys(t))

			poll(t, m)
			require.Len(t, h.published(t), 4)
		})
	}
}

func TestVIFNotYetInServiceRaisesNothing(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	var vifs []*fakeVIF
	for i, state := range []string{"confirming", "verifying", "pending"} {
		v := vif("dxvif-new0000"+string(rune('1'+i)), "new", acmeAccount, tokyo)
		v.VirtualInterfaceState = state
		v.BGPPeers[0].BGPStatus, v.BGPPeers[1].BGPStatus = "down", "down"
		vifs = append(vifs, v)
	}
	h.aws.update(func() { role.vifs[tokyo] = vifs })
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})
	poll(t, m)
	require.Empty(t, h.published(t))
	require.Empty(t, h.stateKeys(t))
}

func TestOneTenantsAccessDeniedDoesNotStopAnother(t *testing.T) {
	h := newHarness(t)
	acme := h.aws.addRole(acmeAccount, "ext-acme")
	globex := h.aws.addRole(globexAccount, "ext-globex")
	acmeVIF := vif("dxvif-acme0001", "acme-prod", acmeAccount, tokyo)
	globexVIF := vif("dxvif-glbx0001", "globex-prod", globexAccount, tokyo)
	h.aws.update(func() {
		acme.vifs[tokyo] = []*fakeVIF{acmeVIF}
		globex.vifs[tokyo] = []*fakeVIF{globexVIF}
		globex.denyDX = true // the customer's role lacks directconnect:DescribeVirtualInterfaces
	})
	setVIF(h, acmeVIF, "down", "down", "down")
	setVIF(h, globexVIF, "down", "down", "down")
	// Globex first, so a failure that stopped the loop would stop acme too.
	m, reg := h.monitor(t, []Target{
		targetFor("globex", "globex-dx", globex, tokyo),
		targetFor("acme", "acme-dx", acme, tokyo),
	}, func(o *Options) { o.Concurrency = 1 })

	err := m.PollOnce(context.Background())
	require.Error(t, err)
	var pe *PollError
	require.ErrorAs(t, err, &pe)
	require.Equal(t, "globex", pe.Tenant)
	require.Equal(t, "access_denied", pe.Result)
	var api smithy.APIError
	require.ErrorAs(t, err, &api)
	require.Equal(t, "AccessDeniedException", api.ErrorCode())

	got := h.published(t)
	require.Len(t, got, 1, "acme's outage is raised although globex's poll failed")
	require.Equal(t, "acme", got[0].GetTenant())
	require.Equal(t, "dxvif-acme0001", got[0].GetResource().GetHost())
	require.Equal(t, acmeAccount, got[0].GetResource().GetAccount())
	require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "ok"))
	require.Equal(t, 1.0, polls(t, reg, "globex", "globex-dx", tokyo, "access_denied"))

	// The customer fixes the role: the next interval picks globex up, with
	// globex's own session (the fake serves each account's VIFs only to
	// that account's role).
	h.aws.update(func() { globex.denyDX = false })
	h.clock.Advance(time.Minute)
	poll(t, m)
	require.Len(t, h.publishedFor(t, "acme"), 1)
	g := h.publishedFor(t, "globex")
	require.Len(t, g, 1)
	require.Equal(t, "dxvif-glbx0001", g[0].GetResource().GetHost())
	require.Equal(t, globexAccount, g[0].GetResource().GetAccount())
	require.Equal(t, "globex-dx", g[0].GetIntegration())
	require.Equal(t, 1.0, polls(t, reg, "globex", "globex-dx", tokyo, "ok"))

	calls := h.aws.assumeCalls()
	require.Len(t, calls, 2, "each tenant's role assumed once")
	for _, c := range calls {
		switch c.RoleARN {
		case acme.arn:
			require.Equal(t, "ext-acme", c.ExternalID)
		case globex.arn:
			require.Equal(t, "ext-globex", c.ExternalID)
		default:
			t.Fatalf("unexpected role %s", c.RoleARN)
		}
		require.True(t, c.Accepted)
	}
}

func TestWrongExternalIDIsRefusedAndCounted(t *testing.T) {
	h := newHarness(t)
	acme := h.aws.addRole(acmeAccount, "ext-acme")
	globex := h.aws.addRole(globexAccount, "ext-globex")
	acmeVIF := vif("dxvif-acme0001", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() {
		acme.vifs[tokyo] = []*fakeVIF{acmeVIF}
		globex.vifs[tokyo] = []*fakeVIF{vif("dxvif-glbx0001", "globex-prod", globexAccount, tokyo)}
	})
	setVIF(h, acmeVIF, "down", "down", "down")
	wrong := targetFor("globex", "globex-dx", globex, tokyo)
	wrong.ExternalID = "ext-acme" // someone pointed globex's integration at acme's external id
	m, reg := h.monitor(t, []Target{wrong, targetFor("acme", "acme-dx", acme, tokyo)})

	for range 2 {
		err := m.PollOnce(context.Background())
		var pe *PollError
		require.ErrorAs(t, err, &pe)
		require.Equal(t, "globex", pe.Tenant)
		require.Equal(t, "access_denied", pe.Result)
		var api smithy.APIError
		require.ErrorAs(t, err, &api)
		require.Equal(t, "AccessDenied", api.ErrorCode())
		require.Contains(t, err.Error(), "AssumeRole")
		h.clock.Advance(time.Minute)
	}
	require.Equal(t, 2.0, polls(t, reg, "globex", "globex-dx", tokyo, "access_denied"), "refused again at the next interval, counted each time")
	require.Equal(t, 0, h.aws.dxCallCount(globexAccount), "no Direct Connect call without the role")

	var refused []assumeCall
	for _, c := range h.aws.assumeCalls() {
		if c.RoleARN == globex.arn {
			refused = append(refused, c)
		}
	}
	require.Len(t, refused, 2)
	for _, c := range refused {
		require.Equal(t, "ext-acme", c.ExternalID, "the fake saw the external id the target configured")
		require.False(t, c.Accepted)
	}
	got := h.published(t)
	require.Len(t, got, 1)
	require.Equal(t, "acme", got[0].GetTenant())
}

func TestThrottlingIsRetriedAtTheNextInterval(t *testing.T) {
	tests := []struct {
		name string
		fail fakeFailure
	}{
		{"400 ThrottlingException", fakeFailure{status: 400, typ: "ThrottlingException", msg: "Rate exceeded"}},
		{"429 TooManyRequestsException", fakeFailure{status: 429, typ: "TooManyRequestsException", msg: "Too Many Requests"}},
		{"429 without a body", fakeFailure{status: 429}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			role := h.aws.addRole(acmeAccount, "ext-acme")
			v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
			h.aws.update(func() {
				role.vifs[tokyo] = []*fakeVIF{v}
				role.failures = []fakeFailure{tt.fail}
			})
			setVIF(h, v, "down", "down", "down")
			m, reg := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})

			err := m.PollOnce(context.Background())
			var pe *PollError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "throttled", pe.Result)
			require.Empty(t, h.published(t))
			require.Empty(t, h.stateKeys(t), "a failed poll changes no state")

			nextAt := h.clock.Advance(time.Minute)
			poll(t, m)
			got := h.published(t)
			require.Len(t, got, 1)
			require.Equal(t, nextAt, got[0].GetStartsAt().AsTime())
			require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "throttled"))
			require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "ok"))
			require.Equal(t, 2, h.aws.dxCallCount(acmeAccount), "one attempt per poll with SDK retries off")
		})
	}
}

func TestSDKRetriesThrottlingWithinAPoll(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() {
		role.vifs[tokyo] = []*fakeVIF{v}
		role.failures = []fakeFailure{{status: 400, typ: "ThrottlingException", msg: "Rate exceeded"}}
	})
	setVIF(h, v, "down", "down", "down")
	m, reg := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)}, func(o *Options) {
		base := o.AWSConfig
		o.AWSConfig = func(ctx context.Context) (aws.Config, error) {
			cfg, err := base(ctx)
			cfg.RetryMaxAttempts = 0
			cfg.Retryer = func() aws.Retryer {
				return retry.NewStandard(func(so *retry.StandardOptions) {
					so.MaxAttempts = 3
					so.MaxBackoff = time.Millisecond // keep the test fast
				})
			}
			return cfg, err
		}
	})
	poll(t, m)
	require.Len(t, h.published(t), 1)
	require.Equal(t, 2, h.aws.dxCallCount(acmeAccount), "the SDK retried the throttled call")
	require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "ok"))
}

// countingPublisher wraps a publisher: it records each call and can fail
// before publishing (the bus is down) or after (the process died between
// the PubAck and the state write).
type countingPublisher struct {
	next        Publisher
	mu          sync.Mutex
	calls       [][]*amsv1.Alert
	failBefore  int
	failAfterOK int
}

func (p *countingPublisher) Publish(ctx context.Context, alerts []*amsv1.Alert) error {
	p.mu.Lock()
	p.calls = append(p.calls, alerts)
	before, after := p.failBefore > 0, p.failAfterOK > 0
	if before {
		p.failBefore--
	} else if after {
		p.failAfterOK--
	}
	p.mu.Unlock()
	if before {
		return errors.New("nats: no responders available for request")
	}
	if err := p.next.Publish(ctx, alerts); err != nil {
		return err
	}
	if after {
		return errors.New("crashed after the PubAck")
	}
	return nil
}

func (p *countingPublisher) callCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.calls)
}

func TestUndeliveredAlertIsPublishedAgainUnchanged(t *testing.T) {
	tests := []struct {
		name string
		pub  func(next Publisher) *countingPublisher
		// stored is how many alerts ALERTS holds after the failed poll.
		stored int
	}{
		{"publish failed", func(next Publisher) *countingPublisher { return &countingPublisher{next: next, failBefore: 1} }, 0},
		{"crash after the PubAck", func(next Publisher) *countingPublisher { return &countingPublisher{next: next, failAfterOK: 1} }, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			role := h.aws.addRole(acmeAccount, "ext-acme")
			v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
			h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
			targets := []Target{targetFor("acme", "acme-dx", role, tokyo)}

			downAt := h.clock.Now()
			setVIF(h, v, "down", "down", "down")
			pub := tt.pub(h.pub)
			first, reg := h.monitor(t, targets, func(o *Options) { o.Publisher = pub })
			err := first.PollOnce(context.Background())
			var pe *PollError
			require.ErrorAs(t, err, &pe)
			require.Equal(t, "publish_error", pe.Result)
			require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "publish_error"))
			require.Len(t, h.published(t), tt.stored)
			require.Len(t, h.stateKeys(t), 1, "the outage is recorded before its alert is published")

			// Next interval, after a restart: the recorded alert goes out again, unchanged.
			pub2 := &countingPublisher{next: h.pub}
			second, _ := h.monitor(t, targets, func(o *Options) { o.Publisher = pub2 })
			h.clock.Advance(time.Minute)
			poll(t, second)
			require.Equal(t, 1, pub2.callCount())
			got := h.published(t)
			require.Len(t, got, 1, "exactly one firing alert: a re-publish after a PubAck is a duplicate the stream drops")
			require.Equal(t, downAt, got[0].GetStartsAt().AsTime(), "starts_at is the first poll's, recorded before publishing")
			require.Equal(t, pub.calls[0][0].GetStartsAt().AsTime(), pub2.calls[0][0].GetStartsAt().AsTime())

			h.clock.Advance(time.Minute)
			poll(t, second)
			require.Equal(t, 1, pub2.callCount(), "delivered now: nothing owed")

			setVIF(h, v, "available", "up", "up")
			poll(t, second)
			got = h.published(t)
			require.Len(t, got, 2)
			require.Equal(t, resolved, got[1].GetStatus())
			require.Equal(t, downAt, got[1].GetStartsAt().AsTime())
		})
	}
}

func TestOutageThatEndsBeforeItsAlertIsDeliveredSendsFiringThenResolved(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	pub := &countingPublisher{next: h.pub, failBefore: 1}
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)}, func(o *Options) { o.Publisher = pub })

	downAt := h.clock.Now()
	setVIF(h, v, "down", "down", "down")
	require.Error(t, m.PollOnce(context.Background()))

	upAt := h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "up", "up")
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 2, "the outage happened: it is reported, then resolved")
	require.Equal(t, firing, got[0].GetStatus())
	require.Equal(t, resolved, got[1].GetStatus())
	require.Equal(t, downAt, got[0].GetStartsAt().AsTime())
	require.Equal(t, upAt, got[1].GetEndsAt().AsTime())
	require.Empty(t, h.stateKeys(t))
}

func TestReplicasPollingTogetherRaiseOneAlert(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	setVIF(h, v, "down", "down", "down")
	targets := []Target{targetFor("acme", "acme-dx", role, tokyo)}

	// Each replica has its own clock: one that ignored the other's record
	// would publish a different starts_at, which the stream would keep.
	var monitors []*Monitor
	for i := range 3 {
		clock := &fakeClock{now: h.clock.Now().Add(time.Duration(i) * 7 * time.Second)}
		m, _ := h.monitor(t, targets, func(o *Options) { o.Now = clock.Now })
		monitors = append(monitors, m)
	}
	var wg sync.WaitGroup
	for _, m := range monitors {
		wg.Go(func() { require.NoError(t, m.PollOnce(context.Background())) })
	}
	wg.Wait()
	got := h.published(t)
	require.Len(t, got, 1)
}

func TestListingIsFollowedAcrossPages(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	var vifs []*fakeVIF
	for _, id := range []string{"dxvif-page0001", "dxvif-page0002", "dxvif-page0003", "dxvif-page0004", "dxvif-page0005"} {
		vifs = append(vifs, vif(id, "", acmeAccount, tokyo))
	}
	vifs[4].VirtualInterfaceState = "down"
	h.aws.update(func() {
		h.aws.pageSize = 2
		role.vifs[tokyo] = vifs
	})
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 1)
	require.Equal(t, "dxvif-page0005", got[0].GetResource().GetHost())
	require.Equal(t, "Direct Connect VIF dxvif-page0005 is down", got[0].GetSummary(), "no name, no parentheses")
	require.Equal(t, 3, h.aws.dxCallCount(acmeAccount))
}

func TestEachRegionIsPolledAndKeyedOnItsOwn(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	tk := vif("dxvif-tokyo001", "tokyo", acmeAccount, tokyo)
	os := vif("dxvif-osaka001", "osaka", acmeAccount, osaka)
	tk.VirtualInterfaceState, os.VirtualInterfaceState = "down", "testing"
	h.aws.update(func() {
		role.vifs[tokyo] = []*fakeVIF{tk}
		role.vifs[osaka] = []*fakeVIF{os}
	})
	m, reg := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo, osaka)})
	poll(t, m)
	got := h.published(t)
	require.Len(t, got, 2)
	byRegion := map[string]*amsv1.Alert{}
	for _, a := range got {
		byRegion[a.GetResource().GetRegion()] = a
	}
	require.Equal(t, "dxvif-tokyo001", byRegion[tokyo].GetResource().GetHost())
	require.Equal(t, "dxvif-osaka001", byRegion[osaka].GetResource().GetHost())
	require.Equal(t, "Direct Connect VIF dxvif-osaka001 (osaka) is down (state testing)", byRegion[osaka].GetSummary())
	require.ElementsMatch(t, []string{
		"acme.acme-dx.ap-northeast-1.dxvif-tokyo001",
		"acme.acme-dx.ap-northeast-3.dxvif-osaka001",
	}, h.stateKeys(t))
	require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", tokyo, "ok"))
	require.Equal(t, 1.0, polls(t, reg, "acme", "acme-dx", osaka, "ok"))
	require.Len(t, h.aws.assumeCalls(), 1, "one session serves every region of the target")
}

func TestRunPollsEveryIntervalUntilCancelled(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	setVIF(h, v, "down", "down", "down")
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)}, func(o *Options) {
		o.Interval = 20 * time.Millisecond
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopped atomic.Bool
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx)
		stopped.Store(true)
	}()
	require.Eventually(t, func() bool { return len(h.published(t)) == 1 }, 10*time.Second, 10*time.Millisecond,
		"the first poll runs at once")

	h.clock.Advance(time.Minute)
	setVIF(h, v, "available", "up", "up")
	require.Eventually(t, func() bool { return len(h.published(t)) == 2 }, 10*time.Second, 10*time.Millisecond,
		"a later interval sees the recovery")
	require.False(t, stopped.Load())

	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}

func TestNewValidates(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	good := targetFor("acme", "acme-dx", role, tokyo)
	tests := []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"no publisher", func(o *Options) { o.Publisher = nil }, "no publisher"},
		{"no state", func(o *Options) { o.State = nil }, "no state bucket"},
		{"negative interval", func(o *Options) { o.Interval = -time.Second }, "must not be negative"},
		{"bad tenant", func(o *Options) { o.Targets[0].Tenant = "Acme Corp" }, `targets[0].tenant: "Acme Corp" is not a tenant id`},
		{"bad integration", func(o *Options) { o.Targets[0].Integration = "acme.>" }, `targets[0].integration: "acme.>"`},
		{"duplicate integration", func(o *Options) { o.Targets = append(o.Targets, good) }, `targets[1].integration: "acme-dx" is already targets[0]`},
		{"not a role", func(o *Options) { o.Targets[0].RoleARN = "arn:aws:iam::111111111111:user/bob" }, "targets[0].role_arn"},
		{"not an arn", func(o *Options) { o.Targets[0].RoleARN = "ams-monitor" }, "targets[0].role_arn"},
		{"no external id", func(o *Options) { o.Targets[0].ExternalID = " " }, "targets[0].external_id: missing"},
		{"no regions", func(o *Options) { o.Targets[0].Regions = nil }, "targets[0].regions: missing"},
		{"bad region", func(o *Options) { o.Targets[0].Regions = []string{"tokyo"} }, `targets[0].regions[0]: "tokyo" is not an AWS region code`},
		{"region twice", func(o *Options) { o.Targets[0].Regions = []string{tokyo, tokyo} }, `targets[0].regions[1]: "ap-northeast-1" is listed twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := Options{Targets: []Target{good}, Publisher: h.pub, State: h.kv}
			tt.edit(&opts)
			_, err := New(opts)
			require.ErrorContains(t, err, tt.want)
		})
	}

	m, err := New(Options{Targets: []Target{good}, Publisher: h.pub, State: h.kv})
	require.NoError(t, err)
	require.Equal(t, DefaultInterval, m.opts.Interval)
	require.Equal(t, DefaultInterval, m.opts.PollTimeout)
	require.Equal(t, DefaultConcurrency, m.opts.Concurrency)
}

func TestAlertsNeverCarryTheBGPAuthKey(t *testing.T) {
	h := newHarness(t)
	role := h.aws.addRole(acmeAccount, "ext-acme")
	v := vif("dxvif-ffg1a2b3", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { role.vifs[tokyo] = []*fakeVIF{v} })
	setVIF(h, v, "down", "down", "down")
	m, _ := h.monitor(t, []Target{targetFor("acme", "acme-dx", role, tokyo)})
	poll(t, m)
	requireNoSecret(t, h.published(t))
	e, err := h.kv.Get(context.Background(), "acme.acme-dx.ap-northeast-1.dxvif-ffg1a2b3")
	require.NoError(t, err)
	require.False(t, strings.Contains(string(e.Value()), testAuthKey), "nor does the state bucket")
}

// syncBuffer is a log sink the test can read while Run writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestRunLogsAFailingTenantAndKeepsPollingTheOthers(t *testing.T) {
	h := newHarness(t)
	acme := h.aws.addRole(acmeAccount, "ext-acme")
	globex := h.aws.addRole(globexAccount, "ext-globex")
	v := vif("dxvif-acme0001", "acme-prod", acmeAccount, tokyo)
	h.aws.update(func() { acme.vifs[tokyo] = []*fakeVIF{v} })
	setVIF(h, v, "down", "down", "down")
	wrong := targetFor("globex", "globex-dx", globex, tokyo)
	wrong.ExternalID = "not-globex"
	logs := &syncBuffer{}
	m, reg := h.monitor(t, []Target{wrong, targetFor("acme", "acme-dx", acme, tokyo)}, func(o *Options) {
		o.Interval = 20 * time.Millisecond
		o.Log = slog.New(slog.NewTextHandler(logs, nil))
	})

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	require.Eventually(t, func() bool {
		return polls(t, reg, "globex", "globex-dx", tokyo, "access_denied") >= 2
	}, 10*time.Second, 10*time.Millisecond, "the failing tenant is tried again every interval")
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}

	require.Len(t, h.published(t), 1, "acme's outage was raised once")
	require.Contains(t, logs.String(), `msg="direct connect poll failed" tenant=globex integration=globex-dx region=ap-northeast-1 result=access_denied`)
	require.NotContains(t, logs.String(), "tenant=acme")
}
