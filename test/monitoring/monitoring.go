package monitoring

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/controller"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
)

// Paths of the shipped files, relative to the repository's root.
const (
	RulesFile     = "config/prometheus/rules.yaml"
	RulesTestFile = "config/prometheus/tests/rules_test.yaml"
	DashboardFile = "config/grafana/dashboard.json"
	// ExtractedRulesFile is the name rules_test.yaml gives the rule groups
	// extracted from the PrometheusRule object.
	ExtractedRulesFile = "tkgcert-rules.yaml"
)

// Query is one PromQL expression and where it comes from.
type Query struct {
	// Where names the alert, or the dashboard's panel and query.
	Where string
	Expr  string
}

// RepoRoot is the repository's root: the directory of go.mod above the
// working directory.
func RepoRoot() (string, error) {
	bin := kubeserver.RepoBinDir()
	if bin == "" {
		return "", errors.New("no go.mod above the working directory")
	}
	return filepath.Dir(bin), nil
}

// Tool returns the path of a tool `make tools` builds into bin/, or an error
// that says how to build it.
func Tool(name string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	p := filepath.Join(root, "bin", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is missing: run `make tools` (it builds promtool and promql-metrics from hack/promtool): %w", p, err)
	}
	return p, nil
}

// prometheusRule is the part of a PrometheusRule object promtool reads.
type prometheusRule struct {
	Kind string `json:"kind"`
	Spec struct {
		Groups []ruleGroup `json:"groups"`
	} `json:"spec"`
}

type ruleGroup struct {
	Name  string `json:"name"`
	Rules []struct {
		Alert  string `json:"alert"`
		Record string `json:"record"`
		Expr   string `json:"expr"`
	} `json:"rules"`
}

// ExtractRules reads the PrometheusRule object in file and writes its spec,
// the rule groups, to dst as a plain Prometheus rules file. The spec is
// copied as it is, not through ruleGroup, so that promtool sees every field.
func ExtractRules(file, dst string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var obj struct {
		Kind string         `json:"kind"`
		Spec map[string]any `json:"spec"`
	}
	if err := yaml.Unmarshal(b, &obj); err != nil {
		return fmt.Errorf("reading %s: %w", file, err)
	}
	if obj.Kind != "PrometheusRule" || obj.Spec["groups"] == nil {
		return fmt.Errorf("%s is not a PrometheusRule with rule groups (kind %q)", file, obj.Kind)
	}
	out, err := yaml.Marshal(obj.Spec)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, out, 0o644)
}

// RuleQueries returns the expression of every rule in the PrometheusRule
// object in file.
func RuleQueries(file string) ([]Query, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var pr prometheusRule
	if err := yaml.Unmarshal(b, &pr); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var qs []Query
	for _, g := range pr.Spec.Groups {
		for _, r := range g.Rules {
			name := r.Alert
			if name == "" {
				name = r.Record
			}
			qs = append(qs, Query{Where: fmt.Sprintf("%s: group %s, rule %s", filepath.Base(file), g.Name, name), Expr: r.Expr})
		}
	}
	if len(qs) == 0 {
		return nil, fmt.Errorf("%s has no rules", file)
	}
	return qs, nil
}

// dashboard is the part of a Grafana dashboard that holds queries.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a collapsed row's
}

// grafanaIntervals are Grafana's built-in interval variables, replaced by a
// duration before parsing (the parser knows nothing of Grafana).
var grafanaIntervals = regexp.MustCompile(`\$\{?__(rate_interval|interval|range)\}?`)

// labelValues is a query variable's label_values(selector, label).
var labelValues = regexp.MustCompile(`^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$`)

// DashboardQueries returns every PromQL expression of the Grafana dashboard
// in file: the panels' targets (an empty one is an error) and the selectors
// of the query variables' label_values(). Grafana's interval variables are
// replaced by 5m; other variables stand inside label values and parse as
// they are.
func DashboardQueries(file string) ([]Query, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("reading %s: %w", file, err)
	}
	var qs []Query
	var errs []error
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				where := fmt.Sprintf("%s: panel %q, query %s", filepath.Base(file), p.Title, t.RefID)
				if strings.TrimSpace(t.Expr) == "" {
					errs = append(errs, fmt.Errorf("%s has no expr", where))
					continue
				}
				qs = append(qs, Query{Where: where, Expr: grafanaIntervals.ReplaceAllString(t.Expr, "5m")})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(v.Query, &q); err != nil {
			// An older dashboard keeps the query as a string.
			if err := json.Unmarshal(v.Query, &q.Query); err != nil {
				errs = append(errs, fmt.Errorf("%s: variable %s: unreadable query %s", filepath.Base(file), v.Name, v.Query))
				continue
			}
		}
		m := labelValues.FindStringSubmatch(q.Query)
		if m == nil {
			errs = append(errs, fmt.Errorf("%s: variable %s: %q is not label_values(selector, label)", filepath.Base(file), v.Name, q.Query))
			continue
		}
		qs = append(qs, Query{Where: fmt.Sprintf("%s: variable %s", filepath.Base(file), v.Name), Expr: m[1]})
	}
	if len(qs) == 0 {
		errs = append(errs, fmt.Errorf("%s has no queries", file))
	}
	return qs, errors.Join(errs...)
}

// MetricsNamed parses the queries with promql-metrics (bin is its path) and
// returns the metric names each one selects, by Query.Where. A query that
// does not parse is an error naming it.
func MetricsNamed(bin string, qs []Query) (map[string][]string, error) {
	named := map[string][]string{}
	for _, q := range qs {
		// One run per query, so that a parse error names its query.
		cmd := exec.Command(bin)
		in, err := json.Marshal([]string{q.Expr})
		if err != nil {
			return nil, err
		}
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("%s: %s does not parse: %v\n%s", q.Where, q.Expr, err, stderr.String())
		}
		var r struct {
			Metrics []string `json:"metrics"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			return nil, fmt.Errorf("%s: reading promql-metrics' output %q: %w", q.Where, out, err)
		}
		named[q.Where] = r.Metrics
	}
	return named, nil
}

// ShippedQueries returns the queries of the dashboard and the alert rules
// under the repository's root.
func ShippedQueries(root string) ([]Query, error) {
	rules, err := RuleQueries(filepath.Join(root, RulesFile))
	if err != nil {
		return nil, err
	}
	dash, err := DashboardQueries(filepath.Join(root, DashboardFile))
	if err != nil {
		return nil, err
	}
	return append(rules, dash...), nil
}

// descRecorder is a prometheus.Registerer that keeps what is registered.
type descRecorder struct{ collectors []prometheus.Collector }

func (r *descRecorder) Register(c prometheus.Collector) error {
	r.collectors = append(r.collectors, c)
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	r.collectors = append(r.collectors, cs...)
}

func (r *descRecorder) Unregister(prometheus.Collector) bool { return false }

// fqName is a metric's name in prometheus.Desc's String().
var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// ControllerMetrics returns the names of the metrics the controller
// registers (internal/controller's NewMetrics and NewForbidden), from their
// descriptors, sorted.
func ControllerMetrics() ([]string, error) {
	rec := &descRecorder{}
	controller.NewMetrics(rec)
	controller.NewForbidden(rec, logr.Discard())
	ch := make(chan *prometheus.Desc, 64)
	go func() {
		for _, c := range rec.collectors {
			c.Describe(ch)
		}
		close(ch)
	}()
	var names []string
	for d := range ch {
		m := fqName.FindStringSubmatch(d.String())
		if m == nil {
			return nil, fmt.Errorf("no metric name in the descriptor %s", d)
		}
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return nil, errors.New("the controller registers no metric")
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
