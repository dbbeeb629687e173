// Command promql-metrics parses PromQL expressions with Prometheus's own
// parser and prints the metric names each one selects. The tests use it to
// check that every query of the Grafana dashboard and every alert rule
// parses and names only metrics the controller exports, without the
// product's module requiring the Prometheus server.
//
// Each argument is one expression; with no argument, the expressions are
// read from standard input as a JSON array of strings. For each expression,
// in order, one JSON object is printed on its own line:
//
//	{"expr":"sum(up)","metrics":["up"]}
//
// The exit code is 1 when an expression does not parse or selects metrics
// by a pattern on __name__ (which no list of names can be checked against).
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// result is what is printed for one expression.
type result struct {
	Expr    string   `json:"expr"`
	Metrics []string `json:"metrics"`
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	exprs := args
	if len(exprs) == 0 {
		if err := json.NewDecoder(stdin).Decode(&exprs); err != nil {
			return fmt.Errorf("reading a JSON array of PromQL expressions from standard input: %w", err)
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	for i, e := range exprs {
		names, err := metricNames(e)
		if err != nil {
			return fmt.Errorf("expression %d %q: %w", i+1, e, err)
		}
		if err := enc.Encode(result{Expr: e, Metrics: names}); err != nil {
			return err
		}
	}
	return nil
}

// metricNames parses expr and returns the metric names its selectors name,
// sorted and unique.
func metricNames(expr string) ([]string, error) {
	node, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	names := []string{}
	var walkErr error
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		if vs.Name != "" {
			names = append(names, vs.Name)
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name != labels.MetricName {
				continue
			}
			if m.Type != labels.MatchEqual {
				walkErr = fmt.Errorf("selector %s matches metric names by a pattern: name each metric", vs)
				return walkErr
			}
			names = append(names, m.Value)
		}
		return nil
	})
	if walkErr != nil {
		return nil, walkErr
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}
