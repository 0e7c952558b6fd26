package awsfake

import (
	"encoding/xml"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

const (
	ec2Version = "2016-11-15"
	ec2NS      = "http://ec2.amazonaws.com/doc/2016-11-15/"
)

// Instance is an EC2 instance in the fake.
type Instance struct {
	ID      string
	Account string
	// State is pending, running, stopping, stopped, shutting-down or
	// terminated (default running).
	State string
	// InstanceStatus and SystemStatus are the status checks: ok, impaired,
	// initializing or insufficient-data (default ok).
	InstanceStatus string
	SystemStatus   string
	Tags           map[string]string
	// AvailabilityZone defaults to us-east-1a.
	AvailabilityZone string
	// RecoverOnReboot makes a reboot set both status checks to ok: the
	// reboot fixed what was wrong.
	RecoverOnReboot bool
	// Reboots and Starts count the reboots and starts the fake applied.
	Reboots, Starts int
}

// AddInstance registers an instance (or replaces one with the same id).
func (f *Fake) AddInstance(in Instance) {
	if in.State == "" {
		in.State = "running"
	}
	if in.InstanceStatus == "" {
		in.InstanceStatus = "ok"
	}
	if in.SystemStatus == "" {
		in.SystemStatus = "ok"
	}
	if in.AvailabilityZone == "" {
		in.AvailabilityZone = "us-east-1a"
	}
	in.Tags = copyMap(in.Tags)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.instances[in.ID] = &in
}

// Instance returns a copy of the instance with id.
func (f *Fake) Instance(id string) (Instance, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if !ok {
		return Instance{}, false
	}
	c := *in
	c.Tags = copyMap(in.Tags)
	return c, true
}

// UpdateInstance changes an instance under the fake's lock, e.g. to make
// it impaired in the middle of a test.
func (f *Fake) UpdateInstance(id string, fn func(*Instance)) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.instances[id]
	if ok {
		fn(in)
	}
	return ok
}

// ec2Proto is the EC2 query protocol: form-encoded POST, XML answers in
// the 2016-11-15 namespace, errors as <Response><Errors><Error>.
type ec2Proto struct{}

func (ec2Proto) service() string      { return "ec2" }
func (ec2Proto) throttleCode() string { return "RequestLimitExceeded" }
func (ec2Proto) internalCode() string { return "InternalError" }

func (ec2Proto) writeError(w http.ResponseWriter, status int, code, msg string) {
	type response struct {
		XMLName xml.Name `xml:"Response"`
		Errors  []struct {
			Code    string `xml:"Code"`
			Message string `xml:"Message"`
		} `xml:"Errors>Error"`
		RequestID string `xml:"RequestID"`
	}
	r := response{RequestID: requestID()}
	r.Errors = append(r.Errors, struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}{code, msg})
	writeXML(w, status, r)
}

var instanceIDPattern = regexp.MustCompile(`^i-([0-9a-f]{8}|[0-9a-f]{17})$`)

var stateCodes = map[string]int{
	"pending": 0, "running": 16, "shutting-down": 32, "terminated": 48, "stopping": 64, "stopped": 80,
}

type ec2State struct {
	Code int    `xml:"code"`
	Name string `xml:"name"`
}

func stateOf(name string) ec2State { return ec2State{Code: stateCodes[name], Name: name} }

type ec2Filter struct {
	name   string
	values []string
}

// ec2Request is the parts of an EC2 query request the fake reads.
type ec2Request struct {
	instanceIDs []string
	filters     []ec2Filter
	form        url.Values
}

// parseEC2 reads the list members of an EC2 query request: InstanceId.N
// and Filter.N.Name / Filter.N.Value.M, numbered from 1.
func parseEC2(form url.Values) ec2Request {
	req := ec2Request{form: form}
	for i := 1; ; i++ {
		v, ok := form["InstanceId."+strconv.Itoa(i)]
		if !ok {
			break
		}
		req.instanceIDs = append(req.instanceIDs, v[0])
	}
	for i := 1; ; i++ {
		prefix := "Filter." + strconv.Itoa(i) + "."
		name, ok := form[prefix+"Name"]
		if !ok {
			break
		}
		flt := ec2Filter{name: name[0]}
		for j := 1; ; j++ {
			v, ok := form[prefix+"Value."+strconv.Itoa(j)]
			if !ok {
				break
			}
			flt.values = append(flt.values, v[0])
		}
		req.filters = append(req.filters, flt)
	}
	return req
}

func (f *Fake) serveEC2(x *exchange) {
	form, _ := parseForm(x.body)
	req := parseEC2(form)
	x.call.InstanceIDs = req.instanceIDs
	if form.Get("DryRun") == "true" {
		x.fail(http.StatusPreconditionFailed, "DryRunOperation", "Request would have succeeded, but DryRun flag is set.")
		return
	}
	switch x.op {
	case "DescribeInstances":
		f.describeInstances(x, req)
	case "DescribeInstanceStatus":
		f.describeInstanceStatus(x, req)
	case "RebootInstances":
		f.rebootInstances(x, req)
	case "StartInstances":
		f.startInstances(x, req)
	default:
		x.fail(http.StatusBadRequest, "InvalidAction", fmt.Sprintf("The action %s is not valid for this web service.", x.op))
	}
}

// lookup returns the named instances of the caller's account, or answers
// the error EC2 gives: a malformed id, or ids that do not exist — which is
// also what an instance of another account looks like from this one.
// Called with f.mu held.
func (f *Fake) lookup(x *exchange, ids []string) ([]*Instance, bool) {
	var out []*Instance
	var missing []string
	for _, id := range ids {
		if !instanceIDPattern.MatchString(id) {
			x.fail(http.StatusBadRequest, "InvalidInstanceID.Malformed", fmt.Sprintf("Invalid id: %q", id))
			return nil, false
		}
		in, ok := f.instances[id]
		if !ok || in.Account != x.account {
			missing = append(missing, id)
			continue
		}
		out = append(out, in)
	}
	switch len(missing) {
	case 0:
		return out, true
	case 1:
		x.fail(http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance ID '%s' does not exist", missing[0]))
	default:
		x.fail(http.StatusBadRequest, "InvalidInstanceID.NotFound", fmt.Sprintf("The instance IDs '%s' do not exist", strings.Join(missing, ", ")))
	}
	return nil, false
}

// selected returns the instances a Describe call covers: the named ones,
// or all of the account's, narrowed by the filters. Called with f.mu held.
func (f *Fake) selected(x *exchange, req ec2Request) ([]*Instance, bool) {
	var all []*Instance
	if len(req.instanceIDs) > 0 {
		found, ok := f.lookup(x, req.instanceIDs)
		if !ok {
			return nil, false
		}
		all = found
	} else {
		for _, in := range f.instances {
			if in.Account == x.account {
				all = append(all, in)
			}
		}
		sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	}
	var out []*Instance
	for _, in := range all {
		keep := true
		for _, flt := range req.filters {
			match, err := filterMatches(in, flt)
			if err != nil {
				x.fail(http.StatusBadRequest, "InvalidParameterValue", err.Error())
				return nil, false
			}
			keep = keep && match
		}
		if keep {
			out = append(out, in)
		}
	}
	return out, true
}

func filterMatches(in *Instance, flt ec2Filter) (bool, error) {
	var have []string
	switch {
	case flt.name == "instance-id":
		have = []string{in.ID}
	case flt.name == "instance-state-name":
		have = []string{in.State}
	case flt.name == "tag-key":
		for k := range in.Tags {
			have = append(have, k)
		}
	case strings.HasPrefix(flt.name, "tag:"):
		if v, ok := in.Tags[strings.TrimPrefix(flt.name, "tag:")]; ok {
			have = []string{v}
		}
	default:
		return false, fmt.Errorf("The filter '%s' is invalid", flt.name) //nolint:staticcheck // AWS's own error text, which the fake reproduces
	}
	for _, h := range have {
		for _, want := range flt.values {
			if h == want {
				return true, nil
			}
		}
	}
	return false, nil
}

type ec2Tag struct {
	Key   string `xml:"key"`
	Value string `xml:"value"`
}

type ec2Instance struct {
	InstanceID   string   `xml:"instanceId"`
	ImageID      string   `xml:"imageId"`
	State        ec2State `xml:"instanceState"`
	InstanceType string   `xml:"instanceType"`
	Placement    struct {
		AvailabilityZone string `xml:"availabilityZone"`
	} `xml:"placement"`
	Tags []ec2Tag `xml:"tagSet>item"`
}

type ec2Reservation struct {
	ReservationID string        `xml:"reservationId"`
	OwnerID       string        `xml:"ownerId"`
	Instances     []ec2Instance `xml:"instancesSet>item"`
}

func (f *Fake) describeInstances(x *exchange, req ec2Request) {
	f.mu.Lock()
	found, ok := f.selected(x, req)
	var res []ec2Reservation
	for _, in := range found {
		item := ec2Instance{InstanceID: in.ID, ImageID: "ami-0fake0000000000000", State: stateOf(in.State), InstanceType: "t3.micro"}
		item.Placement.AvailabilityZone = in.AvailabilityZone
		keys := make([]string, 0, len(in.Tags))
		for k := range in.Tags {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			item.Tags = append(item.Tags, ec2Tag{k, in.Tags[k]})
		}
		res = append(res, ec2Reservation{ReservationID: "r-" + strings.TrimPrefix(in.ID, "i-"), OwnerID: in.Account, Instances: []ec2Instance{item}})
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	type response struct {
		XMLName      xml.Name         `xml:"DescribeInstancesResponse"`
		NS           string           `xml:"xmlns,attr"`
		RequestID    string           `xml:"requestId"`
		Reservations []ec2Reservation `xml:"reservationSet>item"`
	}
	x.ok(response{NS: ec2NS, RequestID: requestID(), Reservations: res})
}

type ec2StatusDetail struct {
	Name   string `xml:"name"`
	Status string `xml:"status"`
}

type ec2StatusSummary struct {
	Status  string            `xml:"status"`
	Details []ec2StatusDetail `xml:"details>item"`
}

func summary(status string) ec2StatusSummary {
	detail := map[string]string{"ok": "passed", "impaired": "failed", "initializing": "initializing", "insufficient-data": "insufficient-data"}[status]
	s := ec2StatusSummary{Status: status}
	if detail != "" {
		s.Details = []ec2StatusDetail{{Name: "reachability", Status: detail}}
	}
	return s
}

func (f *Fake) describeInstanceStatus(x *exchange, req ec2Request) {
	type item struct {
		InstanceID       string           `xml:"instanceId"`
		AvailabilityZone string           `xml:"availabilityZone"`
		InstanceState    ec2State         `xml:"instanceState"`
		SystemStatus     ec2StatusSummary `xml:"systemStatus"`
		InstanceStatus   ec2StatusSummary `xml:"instanceStatus"`
	}
	all := req.form.Get("IncludeAllInstances") == "true"
	f.mu.Lock()
	found, ok := f.selected(x, req)
	var items []item
	for _, in := range found {
		// Without IncludeAllInstances EC2 only reports running instances;
		// status checks only mean something while running.
		if in.State != "running" && !all {
			continue
		}
		it := item{InstanceID: in.ID, AvailabilityZone: in.AvailabilityZone, InstanceState: stateOf(in.State)}
		if in.State == "running" {
			it.SystemStatus, it.InstanceStatus = summary(in.SystemStatus), summary(in.InstanceStatus)
		} else {
			it.SystemStatus, it.InstanceStatus = summary("not-applicable"), summary("not-applicable")
		}
		items = append(items, it)
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	type response struct {
		XMLName   xml.Name `xml:"DescribeInstanceStatusResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Statuses  []item   `xml:"instanceStatusSet>item"`
	}
	x.ok(response{NS: ec2NS, RequestID: requestID(), Statuses: items})
}

func (f *Fake) rebootInstances(x *exchange, req ec2Request) {
	if len(req.instanceIDs) == 0 {
		x.fail(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId")
		return
	}
	f.mu.Lock()
	found, ok := f.lookup(x, req.instanceIDs)
	if ok {
		for _, in := range found {
			if in.State != "running" {
				ok = false
				x.fail(http.StatusBadRequest, "IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which it can be rebooted.", in.ID))
				break
			}
		}
	}
	if ok {
		for _, in := range found {
			in.Reboots++
			if in.RecoverOnReboot {
				in.InstanceStatus, in.SystemStatus = "ok", "ok"
			}
		}
		x.call.Applied = true
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	type response struct {
		XMLName   xml.Name `xml:"RebootInstancesResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Return    bool     `xml:"return"`
	}
	x.ok(response{NS: ec2NS, RequestID: requestID(), Return: true})
}

// startInstances starts stopped instances. The answer says "pending", as
// EC2's does; the fake's instance is running with passing checks at once,
// so a status step right after sees it healthy.
func (f *Fake) startInstances(x *exchange, req ec2Request) {
	type change struct {
		InstanceID    string   `xml:"instanceId"`
		CurrentState  ec2State `xml:"currentState"`
		PreviousState ec2State `xml:"previousState"`
	}
	if len(req.instanceIDs) == 0 {
		x.fail(http.StatusBadRequest, "MissingParameter", "The request must contain the parameter InstanceId")
		return
	}
	f.mu.Lock()
	found, ok := f.lookup(x, req.instanceIDs)
	if ok {
		for _, in := range found {
			switch in.State {
			case "stopping", "shutting-down", "terminated":
				ok = false
				x.fail(http.StatusBadRequest, "IncorrectInstanceState", fmt.Sprintf("The instance '%s' is not in a state from which it can be started.", in.ID))
			}
			if !ok {
				break
			}
		}
	}
	var changes []change
	if ok {
		for _, in := range found {
			c := change{InstanceID: in.ID, PreviousState: stateOf(in.State), CurrentState: stateOf(in.State)}
			if in.State == "stopped" {
				c.CurrentState = stateOf("pending")
				in.State, in.InstanceStatus, in.SystemStatus = "running", "ok", "ok"
				in.Starts++
			}
			changes = append(changes, c)
		}
		x.call.Applied = true
	}
	f.mu.Unlock()
	if !ok {
		return
	}
	type response struct {
		XMLName   xml.Name `xml:"StartInstancesResponse"`
		NS        string   `xml:"xmlns,attr"`
		RequestID string   `xml:"requestId"`
		Instances []change `xml:"instancesSet>item"`
	}
	x.ok(response{NS: ec2NS, RequestID: requestID(), Instances: changes})
}

// ok answers 200 with an XML document (EC2 and STS).
func (x *exchange) ok(v any) {
	writeXML(x.resp, http.StatusOK, v)
}

func copyMap[V any](m map[string]V) map[string]V {
	if m == nil {
		return nil
	}
	out := make(map[string]V, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
