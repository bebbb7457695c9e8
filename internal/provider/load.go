package provider

import "context"

// Load is what a host that runs desktops reports of itself: the figures of the session broker's
// system views (FastX /v3/system/server/list) and what placement weighs.
type Load struct {
	CPUs     int
	CPUModel string // when known
	// CPUUsage is the share of all CPUs that was busy (0 to 1) since the previous report, or since
	// boot for the first.
	CPUUsage    float64
	TotalMemory int64 // bytes
	// FreeMemory is what a new desktop can really use (MemAvailable), in bytes.
	FreeMemory  int64
	LoadAverage [3]float64 // over 1, 5 and 15 minutes
	Uptime      int64      // seconds since the host booted
	// Sessions is the number of desktops the provider runs on the host.
	Sessions int
	// Pooled is the number of started desktops waiting for sessions (the LXD warm pool); not sessions.
	Pooled int
}

// LoadReporter is the optional capability of providers that can tell how loaded their host is.
type LoadReporter interface {
	Load(ctx context.Context) (Load, error)
}
