package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tkgcert/tkgcert/test/monitoring"
)

// TestDashboardAndAlertMetrics runs the controller against the lab and
// checks that every metric the Grafana dashboard and the alert rules name is
// really exported, with at least one series, and that the controller exports
// no tkgcert metric its descriptors (what test/monitoring checks the queries
// against) do not list.
func TestDashboardAndAlertMetrics(t *testing.T) {
	promqlMetrics, err := monitoring.Tool("promql-metrics")
	if err != nil {
		t.Fatal(err)
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	queries, err := monitoring.ShippedQueries(repo)
	if err != nil {
		t.Fatal(err)
	}
	named, err := monitoring.MetricsNamed(promqlMetrics, queries)
	if err != nil {
		t.Fatal(err)
	}
	usedBy := map[string][]string{}
	for _, q := range queries {
		for _, m := range named[q.Where] {
			usedBy[m] = append(usedBy[m], q.Where)
		}
	}
	descriptors, err := monitoring.ControllerMetrics()
	if err != nil {
		t.Fatal(err)
	}

	lab := startLab(t, "--address-block", "110", "--provision-delay", "0",
		"--cluster", "c/healthy", "--cluster", "c/expiring:expiring,light", "--cluster", "c/expired:expired,light")
	sh := newShell(t, "KUBECONFIG="+lab.kubeconfig())
	sh.run(fmt.Sprintf(`kubectl apply -k %s/config/base >/dev/null`, repo))
	p := startController(t, lab.kubeconfig(), "--dry-run")
	p.waitLog("Every cluster inventoried", 1)

	body := p.scrape()

	for m, where := range usedBy {
		if !strings.Contains(body, "# TYPE "+m+" ") {
			t.Errorf("%s, named by %s, is not exported by the controller", m, strings.Join(where, "; "))
			continue
		}
		if _, ok := metricValue(body, m); !ok {
			t.Errorf("%s, named by %s, has no series after a pass over the lab", m, strings.Join(where, "; "))
		}
	}
	// The queries' names are checked against the descriptors elsewhere:
	// those must cover every tkgcert metric that is really exported.
	for _, l := range lines(body) {
		name, ok := strings.CutPrefix(l, "# TYPE ")
		if !ok || !strings.HasPrefix(name, "tkgcert_") {
			continue
		}
		name, _, _ = strings.Cut(name, " ")
		if !slices.Contains(descriptors, name) {
			t.Errorf("the controller exports %s, which its descriptors (monitoring.ControllerMetrics) do not list", name)
		}
	}
	if len(usedBy) == 0 {
		t.Fatal("the dashboard and the rules name no metric")
	}
	t.Logf("%d metrics named by %d queries, all exported", len(usedBy), len(queries))
}
