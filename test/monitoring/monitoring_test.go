package monitoring

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"sigs.k8s.io/yaml"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := Tool(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAlertRules runs promtool's own checks on the rules of
// config/prometheus/rules.yaml and its unit tests in
// config/prometheus/tests, which must show every alert both firing and not
// firing.
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	root := repoRoot(t)
	dir := t.TempDir()
	rules := filepath.Join(dir, ExtractedRulesFile)
	if err := ExtractRules(filepath.Join(root, RulesFile), rules); err != nil {
		t.Fatal(err)
	}
	tests, err := os.ReadFile(filepath.Join(root, RulesTestFile))
	if err != nil {
		t.Fatal(err)
	}
	testFile := filepath.Join(dir, filepath.Base(RulesTestFile))
	if err := os.WriteFile(testFile, tests, 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("check rules", func(t *testing.T) {
		out, err := exec.Command(promtool, "check", "rules", rules).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool check rules %s: %v\n%s", RulesFile, err, out)
		}
		t.Logf("%s", out)
	})

	t.Run("test rules", func(t *testing.T) {
		cmd := exec.Command(promtool, "test", "rules", filepath.Base(testFile))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("promtool test rules %s: %v\n%s", RulesTestFile, err, out)
		}
		t.Logf("%s", out)
	})

	t.Run("every alert is tested firing and not firing", func(t *testing.T) {
		qs, err := RuleQueries(filepath.Join(root, RulesFile))
		if err != nil {
			t.Fatal(err)
		}
		var unit struct {
			Tests []struct {
				AlertRuleTest []struct {
					Alertname string `json:"alertname"`
					ExpAlerts []any  `json:"exp_alerts"`
				} `json:"alert_rule_test"`
			} `json:"tests"`
		}
		if err := yaml.Unmarshal(tests, &unit); err != nil {
			t.Fatal(err)
		}
		firing, silent := map[string]bool{}, map[string]bool{}
		for _, tc := range unit.Tests {
			for _, a := range tc.AlertRuleTest {
				if len(a.ExpAlerts) > 0 {
					firing[a.Alertname] = true
				} else {
					silent[a.Alertname] = true
				}
			}
		}
		for _, q := range qs {
			alert := q.Where[strings.LastIndex(q.Where, " ")+1:]
			if !firing[alert] {
				t.Errorf("%s: no test in %s shows %s firing", q.Where, RulesTestFile, alert)
			}
			if !silent[alert] {
				t.Errorf("%s: no test in %s shows %s not firing", q.Where, RulesTestFile, alert)
			}
		}
	})
}

// TestDashboardQueriesParse parses every query of the dashboard and the
// alert rules with Prometheus's parser and checks that each names only
// metrics the controller registers.
func TestDashboardQueriesParse(t *testing.T) {
	bin := tool(t, "promql-metrics")
	exported, err := ControllerMetrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"tkgcert_cluster_earliest_expiry_timestamp_seconds", "tkgcert_rotations_failed_total"} {
		if !slices.Contains(exported, want) {
			t.Fatalf("the controller's metrics, read from its descriptors, lack %s: %v", want, exported)
		}
	}
	qs, err := ShippedQueries(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	named, err := MetricsNamed(bin, qs)
	if err != nil {
		t.Fatal(err)
	}
	used := map[string]bool{}
	for _, q := range qs {
		if len(named[q.Where]) == 0 {
			t.Errorf("%s names no metric: %s", q.Where, q.Expr)
		}
		for _, m := range named[q.Where] {
			used[m] = true
			if !slices.Contains(exported, m) {
				t.Errorf("%s names %s, which the controller does not export (it exports %s): %s", q.Where, m, strings.Join(exported, ", "), q.Expr)
			}
		}
	}
	t.Logf("%d queries name %d of the controller's %d metrics", len(qs), len(used), len(exported))
}

// TestMetricsNamed shows that the parse check can fail: promql-metrics
// rejects what Prometheus's parser rejects and finds names wherever a
// selector puts them.
func TestMetricsNamed(t *testing.T) {
	bin := tool(t, "promql-metrics")
	for _, tc := range []struct {
		expr    string
		want    []string
		wantErr string
	}{
		{expr: `time() - max(b) > 12 * 3600`, want: []string{"b"}},
		{expr: `sum by (x) (increase(b_total{x=~"$x"}[5m])) / on() group_left a or {__name__="c"}`, want: []string{"a", "b_total", "c"}},
		{expr: `absent(a)`, want: []string{"a"}},
		{expr: `vector(1)`, want: []string{}},
		{expr: `sum(rate(a[$__rate_interval]))`, wantErr: "does not parse"},
		{expr: `min by (namespace (a)`, wantErr: "does not parse"},
		{expr: `{__name__=~"tkgcert_.*"}`, wantErr: "by a pattern"},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			got, err := MetricsNamed(bin, []Query{{Where: "test", Expr: tc.expr}})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("MetricsNamed(%q) = %v, %v; want an error with %q", tc.expr, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got["test"]); diff != "" {
				t.Errorf("MetricsNamed(%q) (-want +got):\n%s", tc.expr, diff)
			}
		})
	}
}

// TestDashboardQueries reads the queries of a dashboard as Grafana keeps
// them: in rows, with interval variables, and in query variables.
func TestDashboardQueries(t *testing.T) {
	file := filepath.Join(t.TempDir(), "d.json")
	if err := os.WriteFile(file, []byte(`{"panels":[
 {"title":"A","targets":[{"refId":"A","expr":"sum(rate(a[$__rate_interval]))"}]},
 {"type":"row","title":"R","panels":[{"title":"B","targets":[{"refId":"X","expr":"increase(b[${__range}])"}]}]}],
 "templating":{"list":[{"name":"datasource","type":"datasource","query":"prometheus"},
  {"name":"ns","type":"query","query":{"query":"label_values(c{x=\"1\"}, namespace)"}},
  {"name":"old","type":"query","query":"label_values(d, cluster)"}]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := DashboardQueries(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []Query{
		{Where: `d.json: panel "A", query A`, Expr: "sum(rate(a[5m]))"},
		{Where: `d.json: panel "B", query X`, Expr: "increase(b[5m])"},
		{Where: "d.json: variable ns", Expr: `c{x="1"}`},
		{Where: "d.json: variable old", Expr: "d"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DashboardQueries (-want +got):\n%s", diff)
	}
}
