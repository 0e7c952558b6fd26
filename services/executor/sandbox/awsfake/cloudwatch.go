package awsfake

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// cloudWatchService is the Smithy service shape name CloudWatch's RPC v2
// CBOR paths carry: /service/GraniteServiceVersion20100801/operation/<Op>.
const cloudWatchService = "GraniteServiceVersion20100801"

// Datapoint is one raw sample of a metric.
type Datapoint struct {
	Time  time.Time
	Value float64
}

type metric struct {
	account, namespace, name string
	dims                     map[string]string
	points                   []Datapoint
}

// AddDatapoints adds samples to a metric of account, creating it. A metric
// is identified, as in CloudWatch, by namespace, name and the exact set of
// dimensions.
func (f *Fake) AddDatapoints(account, namespace, name string, dims map[string]string, points ...Datapoint) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, m := range f.metrics {
		if m.account == account && m.namespace == namespace && m.name == name && sameDims(m.dims, dims) {
			m.points = append(m.points, points...)
			return
		}
	}
	f.metrics = append(f.metrics, &metric{account: account, namespace: namespace, name: name, dims: copyMap(dims), points: append([]Datapoint(nil), points...)})
}

func sameDims(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// cborProto is Smithy RPC v2 CBOR as CloudWatch speaks it: it is
// query-compatible (the client sends X-Amzn-Query-Mode: true), so errors
// carry the awsQuery code in x-amzn-query-error next to the CBOR __type.
type cborProto struct{}

func (cborProto) service() string      { return "monitoring" }
func (cborProto) throttleCode() string { return "Throttling" }
func (cborProto) internalCode() string { return "InternalServiceError" }

// cborTypes maps awsQuery codes to the Smithy error shape names CloudWatch
// declares for them (the __type of an RPC v2 error).
var cborTypes = map[string]string{
	"InvalidParameterValue":       "InvalidParameterValueException",
	"InvalidParameterCombination": "InvalidParameterCombinationException",
	"MissingParameter":            "MissingRequiredParameterException",
	"InternalServiceError":        "InternalServiceFault",
	"InvalidNextToken":            "InvalidNextToken",
	"Throttling":                  "ThrottlingException",
}

var cborEnc = func() cbor.EncMode {
	em, err := cbor.EncOptions{Time: cbor.TimeUnixDynamic, TimeTag: cbor.EncTagRequired}.EncMode()
	if err != nil {
		panic(err) // static options
	}
	return em
}()

func (cborProto) writeError(w http.ResponseWriter, status int, code, msg string) {
	typ := code
	if t, ok := cborTypes[code]; ok {
		typ = t
	}
	fault := "Sender"
	if status >= 500 {
		fault = "Receiver"
	}
	w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	writeCBOR(w, status, map[string]string{"__type": "com.amazonaws.cloudwatch#" + typ, "message": msg})
}

func writeCBOR(w http.ResponseWriter, status int, v any) {
	data, err := cborEnc.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("X-Amzn-Requestid", requestID())
	w.WriteHeader(status)
	_, _ = w.Write(data)
}

// The GetMetricData shapes, member names as in the CloudWatch model.
type cwDimension struct {
	Name  string `cbor:"Name"`
	Value string `cbor:"Value"`
}

type cwMetric struct {
	Namespace  string        `cbor:"Namespace"`
	MetricName string        `cbor:"MetricName"`
	Dimensions []cwDimension `cbor:"Dimensions"`
}

type cwMetricStat struct {
	Metric *cwMetric `cbor:"Metric"`
	Period int64     `cbor:"Period"`
	Stat   string    `cbor:"Stat"`
	Unit   string    `cbor:"Unit"`
}

type cwQuery struct {
	ID         string        `cbor:"Id"`
	MetricStat *cwMetricStat `cbor:"MetricStat"`
	Expression string        `cbor:"Expression"`
	Label      string        `cbor:"Label"`
	ReturnData *bool         `cbor:"ReturnData"`
	Period     int64         `cbor:"Period"`
	AccountID  string        `cbor:"AccountId"`
}

type cwResult struct {
	ID         string      `cbor:"Id"`
	Label      string      `cbor:"Label"`
	Timestamps []time.Time `cbor:"Timestamps"`
	Values     []float64   `cbor:"Values"`
	StatusCode string      `cbor:"StatusCode"`
}

func (f *Fake) serveCloudWatch(x *exchange) {
	if x.op != "GetMetricData" {
		x.fail(http.StatusBadRequest, "InvalidAction", "the fake answers GetMetricData only, not "+x.op)
		return
	}
	if ct := x.r.Header.Get("Content-Type"); ct != "application/cbor" {
		x.fail(http.StatusBadRequest, "InvalidParameterValue", "want Content-Type application/cbor, got "+strconv.Quote(ct))
		return
	}
	var in struct {
		MetricDataQueries []cwQuery `cbor:"MetricDataQueries"`
		StartTime         time.Time `cbor:"StartTime"`
		EndTime           time.Time `cbor:"EndTime"`
		NextToken         string    `cbor:"NextToken"`
		ScanBy            string    `cbor:"ScanBy"`
		MaxDatapoints     int64     `cbor:"MaxDatapoints"`
	}
	if err := cbor.NewDecoder(bytes.NewReader(x.body)).Decode(&in); err != nil {
		x.fail(http.StatusBadRequest, "InvalidParameterValue", "malformed CBOR: "+err.Error())
		return
	}
	switch {
	case len(in.MetricDataQueries) == 0 || len(in.MetricDataQueries) > 500:
		x.fail(http.StatusBadRequest, "InvalidParameterValue", "The collection MetricDataQueries must not be empty and must contain at most 500 items.")
		return
	case in.StartTime.IsZero() || in.EndTime.IsZero():
		x.fail(http.StatusBadRequest, "MissingParameter", "The parameters StartTime and EndTime are required.")
		return
	case !in.StartTime.Before(in.EndTime):
		x.fail(http.StatusBadRequest, "InvalidParameterValue", "The parameter StartTime must be less than the parameter EndTime.")
		return
	}
	f.mu.Lock()
	results, fail := f.metricData(x.account, in.MetricDataQueries, in.StartTime, in.EndTime, in.ScanBy != "TimestampAscending")
	f.mu.Unlock()
	if fail != nil {
		x.fail(fail.status, fail.code, fail.msg)
		return
	}
	writeCBOR(x.resp, http.StatusOK, map[string]any{"MetricDataResults": results, "Messages": []any{}})
}

// apiError is an error answer decided while the fake's lock is held.
type apiError struct {
	status    int
	code, msg string
}

func invalid(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "InvalidParameterValue", fmt.Sprintf(format, args...)}
}

// metricData answers the queries from account's metrics. Called with f.mu held.
func (f *Fake) metricData(account string, queries []cwQuery, start, end time.Time, descending bool) ([]cwResult, *apiError) {
	results := make([]cwResult, 0, len(queries))
	for _, q := range queries {
		if !queryIDPattern.MatchString(q.ID) {
			return nil, invalid("The value %q for parameter MetricDataQueries.member.Id is invalid: it must start with a lowercase letter.", q.ID)
		}
		if q.Expression != "" {
			return nil, invalid("the fake does not evaluate metric math Expressions")
		}
		ms := q.MetricStat
		if ms == nil || ms.Metric == nil || ms.Metric.MetricName == "" || ms.Metric.Namespace == "" || ms.Stat == "" {
			return nil, &apiError{http.StatusBadRequest, "MissingParameter", "MetricDataQueries.member.MetricStat with Metric, Period and Stat is required."}
		}
		if ms.Period <= 0 || (ms.Period >= 60 && ms.Period%60 != 0) || (ms.Period < 60 && 60%ms.Period != 0) {
			return nil, invalid("The parameter MetricDataQueries.member.MetricStat.Period must be 1, 5, 10, 20, 30, or a multiple of 60; got %d.", ms.Period)
		}
		agg, err := aggregator(ms.Stat)
		if err != nil {
			return nil, invalid("%s", err.Error())
		}
		dims := map[string]string{}
		for _, d := range ms.Metric.Dimensions {
			dims[d.Name] = d.Value
		}
		var points []Datapoint
		for _, m := range f.metrics {
			if m.account == account && m.namespace == ms.Metric.Namespace && m.name == ms.Metric.MetricName && sameDims(m.dims, dims) {
				points = m.points
			}
		}
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		r := bucket(points, start, end, time.Duration(ms.Period)*time.Second, agg, descending)
		r.ID, r.StatusCode, r.Label = q.ID, "Complete", q.Label
		if r.Label == "" {
			r.Label = ms.Metric.MetricName
		}
		results = append(results, r)
	}
	return results, nil
}

var queryIDPattern = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)

// bucket aggregates the samples in [start, end) into periods aligned to
// the epoch, as CloudWatch does, newest first unless ascending.
func bucket(points []Datapoint, start, end time.Time, period time.Duration, agg func([]float64) float64, descending bool) cwResult {
	groups := map[int64][]float64{}
	for _, p := range points {
		if p.Time.Before(start) || !p.Time.Before(end) {
			continue
		}
		secs := int64(period / time.Second)
		k := p.Time.Unix() / secs * secs
		groups[k] = append(groups[k], p.Value)
	}
	keys := make([]int64, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if descending {
			return keys[i] > keys[j]
		}
		return keys[i] < keys[j]
	})
	r := cwResult{Timestamps: []time.Time{}, Values: []float64{}}
	for _, k := range keys {
		r.Timestamps = append(r.Timestamps, time.Unix(k, 0).UTC())
		r.Values = append(r.Values, agg(groups[k]))
	}
	return r
}

var percentilePattern = regexp.MustCompile(`^p(\d{1,2}(\.\d{1,2})?|100)$`)

// aggregator returns the statistic: the five basic ones and pNN.
func aggregator(stat string) (func([]float64) float64, error) {
	switch stat {
	case "Average":
		return func(v []float64) float64 { return sum(v) / float64(len(v)) }, nil
	case "Sum":
		return sum, nil
	case "SampleCount":
		return func(v []float64) float64 { return float64(len(v)) }, nil
	case "Minimum":
		return func(v []float64) float64 { return extreme(v, math.Min) }, nil
	case "Maximum":
		return func(v []float64) float64 { return extreme(v, math.Max) }, nil
	}
	if m := percentilePattern.FindStringSubmatch(stat); m != nil {
		p, _ := strconv.ParseFloat(m[1], 64)
		return func(v []float64) float64 {
			s := append([]float64(nil), v...)
			sort.Float64s(s)
			i := int(math.Ceil(p/100*float64(len(s)))) - 1
			return s[max(0, min(i, len(s)-1))]
		}, nil
	}
	return nil, fmt.Errorf("The parameter MetricDataQueries.member.MetricStat.Stat %q is not a statistic the fake knows (Average, Sum, SampleCount, Minimum, Maximum, pNN).", stat) //nolint:revive,staticcheck // AWS's own error text, which the fake reproduces
}

func sum(v []float64) float64 {
	t := 0.0
	for _, x := range v {
		t += x
	}
	return t
}

func extreme(v []float64, pick func(a, b float64) float64) float64 {
	r := v[0]
	for _, x := range v[1:] {
		r = pick(r, x)
	}
	return r
}
