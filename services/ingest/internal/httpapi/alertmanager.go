package httpapi

import (
	"net/http"
	"runtime"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/source/alertmanager"
)

// Routes of the Alertmanager API v2 subset AMS serves, so that Prometheus
// (alerting.alertmanagers with path_prefix "/") and amtool can use AMS as
// their Alertmanager. The credential names the integration: a bearer token
// or a basic-auth password of an integration whose source is alertmanager.
const (
	AlertmanagerAlertsRoute = "POST /api/v2/alerts"
	AlertmanagerStatusRoute = "GET /api/v2/status"
)

// alertmanagerSource is the source type whose integrations the API serves.
const alertmanagerSource = "alertmanager"

// alertmanagerDialect answers as Alertmanager's API does: 200 with no body
// when the alerts are stored, and errors as a JSON string (the openapi
// spec's error payload, which amtool prints).
type alertmanagerDialect struct{}

func (alertmanagerDialect) reject(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Basic realm="ams", charset="UTF-8"`)
	}
	writeJSON(w, status, msg)
}

func (alertmanagerDialect) ignored(w http.ResponseWriter, _ string) { w.WriteHeader(http.StatusOK) }

func (alertmanagerDialect) accepted(w http.ResponseWriter, _ []*amsv1.Alert, _ publish.Result) {
	w.WriteHeader(http.StatusOK)
}

// serveAlertmanagerAlerts handles POST /api/v2/alerts.
func (h *Handler) serveAlertmanagerAlerts(w http.ResponseWriter, r *http.Request) {
	q, ctx := h.begin(w, r, "/api/v2/alerts", alertmanagerDialect{})
	defer q.end()
	in, ok := h.byCredential(r, alertmanagerSource)
	if !ok {
		q.fail(http.StatusUnauthorized, reasonUnauthorized, "missing or invalid credential: send the token of an alertmanager integration as a bearer token or as the basic-auth password", nil)
		return
	}
	q.identify(in)
	if !q.ready() {
		return
	}
	body, ok := q.readBody()
	if !ok {
		return
	}
	q.store(ctx, alertmanager.APIParser{}, body)
}

// alertmanagerStatus is the openapi alertmanagerStatus object, with every
// field its spec requires.
type alertmanagerStatus struct {
	Cluster struct {
		Status string `json:"status"`
		Peers  []any  `json:"peers"`
	} `json:"cluster"`
	VersionInfo struct {
		Version   string `json:"version"`
		Revision  string `json:"revision"`
		Branch    string `json:"branch"`
		BuildUser string `json:"buildUser"`
		BuildDate string `json:"buildDate"`
		GoVersion string `json:"goVersion"`
	} `json:"versionInfo"`
	Config struct {
		Original string `json:"original"`
	} `json:"config"`
	Uptime time.Time `json:"uptime"`
}

// started is when this process began serving, for the status uptime.
var started = time.Now()

// serveAlertmanagerStatus handles GET /api/v2/status. Clients use it to
// check that an Alertmanager answers; AMS reports itself, and never its
// configuration, which holds other tenants' integrations.
func (h *Handler) serveAlertmanagerStatus(w http.ResponseWriter, r *http.Request) {
	q, _ := h.begin(w, r, "/api/v2/status", alertmanagerDialect{})
	defer q.end()
	in, ok := h.byCredential(r, alertmanagerSource)
	if !ok {
		q.fail(http.StatusUnauthorized, reasonUnauthorized, "missing or invalid credential: send the token of an alertmanager integration as a bearer token or as the basic-auth password", nil)
		return
	}
	q.identify(in)
	var s alertmanagerStatus
	s.Cluster.Status = "disabled" // no Alertmanager gossip cluster: AMS replicates through JetStream
	s.Cluster.Peers = []any{}
	s.VersionInfo.Version = "ams"
	s.VersionInfo.Revision = "unknown"
	s.VersionInfo.Branch = "unknown"
	s.VersionInfo.BuildUser = "ams"
	s.VersionInfo.BuildDate = "unknown"
	s.VersionInfo.GoVersion = runtime.Version()
	s.Config.Original = "# AMS serves the Alertmanager API for receiving alerts only; its configuration is not exposed.\n"
	s.Uptime = started.UTC()
	if err := h.o.Ready(); err != nil {
		s.Cluster.Status = "settling"
	}
	writeJSON(w, http.StatusOK, s)
}
