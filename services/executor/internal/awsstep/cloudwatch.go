package awsstep

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/step"
)

// shownDatapoints is how many of the newest datapoints Output lists.
const shownDatapoints = 5

// CloudWatch reads one statistic of a metric over [now-lookback, now] with
// GetMetricData. lookback defaults to three periods and at least ten
// minutes; period defaults to five minutes; stat to Average. The result is
// OK when there is at least one datapoint; Value is the newest.
//
// An InstanceId dimension must pass CheckInstance: even a read-only query
// names a target, and it must be the tenant's.
func (r *Runner) CloudWatch(ctx context.Context, tenant string, acct *config.ExecutorAWS, namespace, metric string, dims map[string]string, stat string, period, lookback time.Duration) (step.Result, error) {
	if stat == "" {
		stat = "Average"
	}
	if period <= 0 {
		period = 5 * time.Minute
	}
	periodSecs := periodSeconds(period)
	period = time.Duration(periodSecs) * time.Second
	if lookback <= 0 {
		lookback = max(3*period, 10*time.Minute)
	}
	names := sortedKeys(dims)
	var target strings.Builder
	target.WriteString(namespace + " " + metric)
	for _, k := range names {
		target.WriteString(" " + k + "=" + dims[k])
	}
	res := step.Result{Target: target.String(), ExitCode: 1}
	if namespace == "" || metric == "" {
		return res, fmt.Errorf("cloudwatch step: namespace and metric are required")
	}
	if err := textValues("cloudwatch step: dimension", dims); err != nil {
		return res, err
	}

	c, err := r.clients(ctx, tenant, acct)
	if err != nil {
		return res, err
	}
	var dimensions []cwtypes.Dimension
	for _, k := range names {
		if k == "InstanceId" {
			if err := r.checkInstance(ctx, c, tenant, acct, dims[k]); err != nil {
				return res, err
			}
		}
		dimensions = append(dimensions, cwtypes.Dimension{Name: aws.String(k), Value: aws.String(dims[k])})
	}

	end := time.Now()
	out, err := c.cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
		StartTime: aws.Time(end.Add(-lookback)),
		EndTime:   aws.Time(end),
		ScanBy:    cwtypes.ScanByTimestampDescending,
		MetricDataQueries: []cwtypes.MetricDataQuery{{
			Id: aws.String("m0"),
			MetricStat: &cwtypes.MetricStat{
				Metric: &cwtypes.Metric{
					Namespace:  aws.String(namespace),
					MetricName: aws.String(metric),
					Dimensions: dimensions,
				},
				Period: aws.Int32(periodSecs),
				Stat:   aws.String(stat),
			},
			ReturnData: aws.Bool(true),
		}},
	})
	if err != nil {
		return res, explain(acct, "cloudwatch:GetMetricData", err)
	}
	type point struct {
		t time.Time
		v float64
	}
	var points []point
	for _, mr := range out.MetricDataResults {
		switch mr.StatusCode {
		case cwtypes.StatusCodeForbidden, cwtypes.StatusCodeInternalError:
			return res, fmt.Errorf("cloudwatch:GetMetricData of %s: status %s", res.Target, mr.StatusCode)
		}
		for i := range min(len(mr.Timestamps), len(mr.Values)) {
			points = append(points, point{mr.Timestamps[i], mr.Values[i]})
		}
	}
	desc := fmt.Sprintf("%s %s (%s, %s)", namespace, metric, stat, period)
	if len(points) == 0 {
		res.Output = fmt.Sprintf("%s: no datapoints in the last %s", desc, lookback)
		return res, nil
	}
	// Newest first, whatever order the page came in.
	sort.SliceStable(points, func(i, j int) bool { return points[i].t.After(points[j].t) })
	res.OK, res.ExitCode, res.Value = true, 0, points[0].v
	var b strings.Builder
	fmt.Fprintf(&b, "%s: newest %s at %s\n", desc, formatValue(points[0].v), points[0].t.UTC().Format(time.RFC3339))
	for _, p := range points[:min(len(points), shownDatapoints)] {
		fmt.Fprintf(&b, "%s %s\n", p.t.UTC().Format(time.RFC3339), formatValue(p.v))
	}
	res.Output = step.Cap(b.String(), r.opts.MaxOutput)
	return res, nil
}

// periodSeconds rounds period up to one CloudWatch accepts: 1, 5, 10, 20
// or 30 seconds (high resolution), or a multiple of 60. A period longer
// than an int32 of seconds (some 68 years) is cut to the longest that fits.
func periodSeconds(period time.Duration) int32 {
	secs := int64((period + time.Second - 1) / time.Second)
	if secs < 60 {
		for _, p := range []int32{1, 5, 10, 20, 30} {
			if secs <= int64(p) {
				return p
			}
		}
		return 60
	}
	mins := min((secs+59)/60, math.MaxInt32/60)
	return int32(mins) * 60
}

func formatValue(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
