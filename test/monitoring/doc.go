// Package monitoring checks what the project ships for Prometheus and
// Grafana: the alert rules in config/prometheus and the dashboard in
// config/grafana. Its tests run the real promtool on the rules and their unit
// tests, and parse every query with Prometheus's own parser (bin/promtool
// and bin/promql-metrics, built by `make tools` from hack/promtool); the
// end-to-end tests use its functions to check the queries' metrics against
// a controller running on the lab.
package monitoring
