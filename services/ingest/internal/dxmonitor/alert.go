package dxmonitor

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Check names, the check label: which of a VIF's alerts this is.
const (
	checkVIF  = "vif_state"
	checkPeer = "bgp_peer"
)

// VIFFingerprint is the fingerprint of a VIF's state alert. It depends only
// on what identifies the VIF (its id is unique across AWS; the region keeps
// it readable in a key), so every poll, replica and restart computes the
// same one for the same VIF.
func VIFFingerprint(region, vifID string) string {
	return source.HashParts(SourceName, checkVIF, region, vifID)
}

// PeerFingerprint is the fingerprint of one BGP peer's alert on a VIF:
// separate from the VIF's, so each peer fires and resolves on its own.
func PeerFingerprint(region, vifID, peerID string) string {
	return source.HashParts(SourceName, checkPeer, region, vifID, peerID)
}

// vifAlert is the firing or resolved alert of r's VIF outage.
func (m *Monitor) vifAlert(t *target, region string, r *record, resolved bool) *amsv1.Alert {
	c, v := r.Down, r.VIF
	a := m.stamp(t, region, v, c, resolved)
	a.Fingerprint = VIFFingerprint(region, v.ID)
	a.Severity = amsv1.Severity_SEVERITY_CRITICAL
	a.Labels["check"] = checkVIF
	name := vifName(v)
	if resolved {
		a.Summary = fmt.Sprintf("Direct Connect VIF %s %s", name, endPhrase(c.EndCause, "is available again"))
	} else {
		a.Summary = fmt.Sprintf("Direct Connect VIF %s is down", name)
		if c.Cause != "down" {
			a.Summary += fmt.Sprintf(" (state %s)", quoteIfEmpty(c.Cause))
		}
	}
	a.Description = fmt.Sprintf("Virtual interface %s went to state %s at %s (first poll that saw it).%s%s",
		v.ID, quoteIfEmpty(c.Cause), c.Since.Format(time.RFC3339), endSentence(c), vifDetails(v))
	return a
}

// peerAlert is the firing or resolved alert of one BGP peer's outage.
func (m *Monitor) peerAlert(t *target, region string, r *record, p *peerRecord, resolved bool) *amsv1.Alert {
	c, v := p.Cond, r.VIF
	a := m.stamp(t, region, v, c, resolved)
	a.Fingerprint = PeerFingerprint(region, v.ID, p.Peer.ID)
	// A VIF usually has a second peer (the other address family, or a
	// redundant VIF on another connection) still carrying traffic.
	a.Severity = amsv1.Severity_SEVERITY_ERROR
	a.Labels["check"] = checkPeer
	setLabel(a.Labels, "bgp_peer_id", p.Peer.ID)
	setLabel(a.Labels, "bgp_status", p.Peer.Status)
	setLabel(a.Labels, "bgp_peer_state", p.Peer.State)
	setLabel(a.Labels, "address_family", p.Peer.AddressFamily)
	if p.Peer.ASN != 0 {
		a.Labels["bgp_peer_asn"] = strconv.FormatInt(p.Peer.ASN, 10)
	}
	peer := p.Peer.ID
	if p.Peer.AddressFamily != "" {
		peer += " (" + p.Peer.AddressFamily + ")"
	}
	if resolved {
		a.Summary = fmt.Sprintf("Direct Connect VIF %s BGP peer %s %s", vifName(v), peer, endPhrase(c.EndCause, "is up again"))
	} else {
		a.Summary = fmt.Sprintf("Direct Connect VIF %s BGP peer %s is down", vifName(v), peer)
	}
	a.Description = fmt.Sprintf("BGP peer %s of virtual interface %s reported bgpStatus %s at %s (first poll that saw it) while the interface was available.%s%s",
		peer, v.ID, quoteIfEmpty(c.Cause), c.Since.Format(time.RFC3339), endSentence(c), vifDetails(v))
	return a
}

// stamp fills what every alert of this source has: what ingest stamps on
// a webhook's alerts (source.Normalize: id, tenant and integration from the
// target, source, received_at) and what the VIF says about itself.
func (m *Monitor) stamp(t *target, region string, v vifInfo, c *condition, resolved bool) *amsv1.Alert {
	a := &amsv1.Alert{
		Id:          m.opts.NewID(),
		Tenant:      t.Tenant,
		Integration: t.Integration,
		Source:      SourceName,
		ReceivedAt:  timestamppb.New(m.opts.Now()),
		Status:      amsv1.AlertStatus_ALERT_STATUS_FIRING,
		StartsAt:    timestamppb.New(c.Since),
		Labels:      vifLabels(v),
		Annotations: map[string]string{"cause": c.Cause},
		Resource: &amsv1.Resource{
			Host:    v.ID,
			Account: t.account,
			Region:  region,
			Service: "directconnect",
		},
		Links: []*amsv1.Link{{Url: consoleURL(t, region, v), Title: "Virtual interface in the AWS console"}},
	}
	if resolved {
		a.Status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
		a.EndsAt = timestamppb.New(c.Ended)
		a.Annotations["end_cause"] = c.EndCause
	}
	return a
}

func vifLabels(v vifInfo) map[string]string {
	l := map[string]string{}
	setLabel(l, "vif_id", v.ID)
	setLabel(l, "vif_name", v.Name)
	setLabel(l, "vif_state", v.State)
	setLabel(l, "vif_type", v.Type)
	setLabel(l, "connection_id", v.ConnectionID)
	setLabel(l, "location", v.Location)
	setLabel(l, "owner_account", v.Owner)
	if v.VLAN != 0 {
		l["vlan"] = strconv.Itoa(int(v.VLAN))
	}
	if v.ASN != 0 {
		l["asn"] = strconv.FormatInt(v.ASN, 10)
	}
	return l
}

func setLabel(l map[string]string, k, v string) {
	if v != "" {
		l[k] = v
	}
}

func vifName(v vifInfo) string {
	if v.Name == "" {
		return v.ID
	}
	return v.ID + " (" + v.Name + ")"
}

func quoteIfEmpty(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

// endPhrase says why an outage ended; back is the phrase for a recovery.
func endPhrase(cause, back string) string {
	switch cause {
	case "available", "up":
		return back
	case "deleting":
		return "is being deleted"
	case "deleted":
		return "was deleted"
	case "rejected":
		return "was rejected"
	default:
		return "is no longer down (" + cause + ")"
	}
}

func endSentence(c *condition) string {
	if c.open() {
		return ""
	}
	return fmt.Sprintf(" Ended at %s: %s.", c.Ended.Format(time.RFC3339), c.EndCause)
}

func vifDetails(v vifInfo) string {
	var parts []string
	if v.Type != "" {
		parts = append(parts, v.Type+" VIF")
	}
	if v.ConnectionID != "" {
		parts = append(parts, "connection "+v.ConnectionID)
	}
	if v.VLAN != 0 {
		parts = append(parts, "VLAN "+strconv.Itoa(int(v.VLAN)))
	}
	if v.Location != "" {
		parts = append(parts, "location "+v.Location)
	}
	if v.Owner != "" {
		parts = append(parts, "owner account "+v.Owner)
	}
	if len(parts) == 0 {
		return ""
	}
	return " " + strings.Join(parts, ", ") + "."
}

// consoleURL opens the VIF in the Direct Connect console, which addresses
// a VIF by its ARN (owner account, as a hosted VIF lives in its owner's).
func consoleURL(t *target, region string, v vifInfo) string {
	owner := v.Owner
	if owner == "" {
		owner = t.account
	}
	host := region + ".console.aws.amazon.com"
	switch t.part {
	case "aws-cn":
		host = region + ".console.amazonaws.cn"
	case "aws-us-gov":
		host = "console.amazonaws-us-gov.com"
	}
	return fmt.Sprintf("https://%s/directconnect/v2/home?region=%s#/virtual-interfaces/arn:%s:directconnect:%s:%s:%s",
		host, region, t.part, region, owner, v.ID)
}
