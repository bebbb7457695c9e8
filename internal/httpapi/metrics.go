package httpapi

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	labels := []string{"surface", "route", "method", "status"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "deskhub", Subsystem: "http", Name: "requests_total",
			Help: "HTTP requests answered, by surface, route pattern, method and status.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "deskhub", Subsystem: "http", Name: "request_duration_seconds",
			Help:    "Time to answer an HTTP request, by surface, route pattern, method and status.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, labels),
	}
	reg.MustRegister(m.requests, m.latency)
	return m
}

func (m *metrics) observe(s Surface, route, method string, status int, d time.Duration) {
	if m == nil {
		return
	}
	switch method {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS":
	default:
		method = "OTHER" // keep label cardinality bounded whatever clients send
	}
	code := strconv.Itoa(status)
	m.requests.WithLabelValues(s.String(), route, method, code).Inc()
	m.latency.WithLabelValues(s.String(), route, method, code).Observe(d.Seconds())
}
