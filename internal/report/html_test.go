package report

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

func htmlReport(now time.Time) *inventory.Report {
	info := func(name, caName string, at time.Time) certs.Info {
		return certs.Info{Name: name, CAName: caName, IsCA: caName == "", NotAfter: at, ResidualSeconds: int64(at.Sub(now) / time.Second)}
	}
	day := 24 * time.Hour
	return &inventory.Report{GeneratedAt: now, Clusters: []inventory.ClusterReport{
		{Namespace: "prod", Name: "web",
			CertificateAuthorities: []certs.Info{info("ca", "", now.Add(3000*day))},
			Nodes: []inventory.NodeReport{{Name: "web-cp-1", Address: "10.0.0.1", Role: "control-plane",
				Certificates:           []certs.Info{info("apiserver", "ca", now.Add(20*day)), info("admin.conf", "ca", now.Add(-day))},
				CertificateAuthorities: []certs.Info{info("ca", "", now.Add(3000*day))}}}},
		{Namespace: "dev", Name: "<b>x</b>", Errors: []string{"reading secret dev/x-ca: forbidden"},
			Nodes: []inventory.NodeReport{{Name: "x-w", Role: "worker", Errors: []string{"ssh: connection refused"}}}},
	}}
}

// rowRE picks a table row's class and its data attributes.
var rowRE = regexp.MustCompile(`<tr class="(status-[a-z]+)" data-supervisor="([^"]*)" data-namespace="([^"]*)" data-cluster="([^"]*)" data-node="([^"]*)" data-certificate="([^"]*)" data-ca="([^"]*)" data-status="([^"]*)"`)

func TestHTML(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	rep := htmlReport(now)
	v := inventory.Evaluate(rep, 30*24*time.Hour, 7*24*time.Hour)
	var b bytes.Buffer
	if err := HTML(&b, rep, v, HTMLOptions{Command: "check", Scope: "all namespaces", Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	var got []string
	for _, m := range rowRE.FindAllStringSubmatch(page, -1) {
		got = append(got, strings.Join(m[1:], "|"))
	}
	want := []string{
		"status-ok||prod|web|Supervisor secret|ca|(a CA)|OK",
		"status-warning||prod|web|web-cp-1|apiserver|ca|WARNING",
		"status-expired||prod|web|web-cp-1|admin.conf|ca|EXPIRED",
		"status-ok||prod|web|web-cp-1|ca|(a CA)|OK",
		"status-error||dev|&lt;b&gt;x&lt;/b&gt;||-|-|ERROR",
		"status-error||dev|&lt;b&gt;x&lt;/b&gt;|x-w|-|-|ERROR",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	for _, s := range []string{
		`<time id="generated">Nov 27, 2026 00:00 UTC</time>`,
		`scope: <span id="scope">all namespaces</span>`,
		`<p id="summary" class="summary">4 certificates: 1 expired, 0 critical, 1 warning; 2 errors</p>`,
		`<h2>Errors (2)</h2>`,
		`<li><b>dev/&lt;b&gt;x&lt;/b&gt;</b>: reading secret dev/x-ca: forbidden</li>`,
		`<li><b>dev/&lt;b&gt;x&lt;/b&gt; node x-w</b>: ssh: connection refused</li>`,
		// The earliest expiry of each cluster, most urgent first.
		`<li class="card status-expired" data-cluster="prod/web" data-status="EXPIRED">`,
		`<li class="card status-error" data-cluster="dev/&lt;b&gt;x&lt;/b&gt;" data-status="ERROR">`,
		`<span class="when">Nov 26, 2026 00:00 UTC (expired 24h ago)</span>`,
		`<details class="node" data-node="web-cp-1">`,
		`<g class="mark mark-warning">`, `critical 7d`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
	if strings.Contains(page, "<b>x</b>") {
		t.Error("a cluster name is not escaped")
	}
	if strings.Index(page, `data-cluster="prod/web"`) > strings.Index(page, `data-cluster="dev/`) {
		t.Error("the earliest expiries are not most urgent first")
	}
	// Self-contained: nothing is loaded from anywhere.
	for _, re := range []string{`\bsrc=`, `\bhref=`, `@import`, `url\(`, `<link`} {
		if regexp.MustCompile(re).MatchString(page) {
			t.Errorf("the page loads something: %s", re)
		}
	}
	// One SUPERVISOR column only when the run covers several.
	if strings.Contains(page, `<th data-col="supervisor">`) {
		t.Error("a SUPERVISOR column in a run over one Supervisor")
	}
}

func TestHTMLSupervisors(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	rep := htmlReport(now)
	rep.Clusters = rep.Clusters[:1]
	rep.Clusters[0].Supervisor = "vc01"
	rep.Supervisors = []inventory.SupervisorRun{{Context: "vc01"}, {Context: "vc02", Error: "dial tcp 10.0.0.9:6443: connection refused"}}
	v := inventory.Evaluate(rep, 30*24*time.Hour, 7*24*time.Hour)
	var b bytes.Buffer
	if err := HTML(&b, rep, v, HTMLOptions{Command: "check", Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	for _, s := range []string{
		`<th data-col="supervisor">Supervisor</th>`,
		`<span id="supervisors">vc01, vc02</span>`,
		`<li><b>Supervisor vc02</b>: dial tcp 10.0.0.9:6443: connection refused</li>`,
		`<tr class="status-error" data-supervisor="vc02" data-namespace="" data-cluster=""`,
		`<tr class="status-warning" data-supervisor="vc01" data-namespace="prod" data-cluster="web" data-node="web-cp-1" data-certificate="apiserver"`,
		`data-cluster="vc01: prod/web"`,
	} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
	if v.Code != inventory.ExitCritical || v.Errors != 1 {
		t.Errorf("verdict code %d, %d errors; want 3 and 1 (the unreachable Supervisor)", v.Code, v.Errors)
	}
}

func TestClustersHTML(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	leaf, ca := now.Add(5*24*time.Hour), now.Add(900*24*time.Hour)
	list := &inventory.ClusterList{Items: []inventory.ClusterSummary{
		{Namespace: "a", Name: "one", EarliestLeafExpiry: &leaf, EarliestCAExpiry: &ca},
		{Namespace: "b", Name: "two", Errors: []string{"no machines"}},
	}}
	var b bytes.Buffer
	if err := ClustersHTML(&b, list, now, HTMLOptions{Command: "clusters", Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range rowRE.FindAllStringSubmatch(b.String(), -1) {
		got = append(got, strings.Join(m[1:], "|"))
	}
	want := []string{
		"status-critical||a|one|Supervisor|earliest Machine certificate|-|CRITICAL",
		"status-ok||a|one|Supervisor|earliest CA|-|OK",
		"status-error||b|two||-|-|ERROR",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("rows (-want +got):\n%s", d)
	}
	if !strings.Contains(b.String(), `<p id="summary" class="summary">2 clusters, 2 expiry dates: 0 expired, 1 critical, 0 warning; 1 errors</p>`) {
		t.Error("summary")
	}
}

func TestTimeline(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	tl := newTimeline([]timelinePoint{
		{Lane: "a/one", At: now.Add(-100 * day), Status: "EXPIRED"},
		{Lane: "a/one", At: now.Add(3000 * day), Status: "OK"},
		{Lane: "b/two", At: now.Add(200 * day), Status: "OK"},
	}, now, 30*day, 7*day)
	// The axis: 60 days back (the earlier expiry clamped) to 400 days on.
	if len(tl.Lanes) != 2 || tl.Lanes[0].Name != "a/one" || tl.Lanes[1].Name != "b/two" {
		t.Fatalf("lanes %+v", tl.Lanes)
	}
	if d := tl.Lanes[0].Dots; d[0].X != tlLabelWidth || d[1].X != tlLabelWidth+tlPlotWidth || !d[1].Beyond || d[0].Beyond {
		t.Errorf("clamped dots %+v", d)
	}
	if x := tl.Lanes[1].Dots[0].X; x != tlLabelWidth+tlPlotWidth*260/460 {
		t.Errorf("200 days on at x=%d, want %d", x, tlLabelWidth+tlPlotWidth*260/460)
	}
	if m := tl.Marks; m[0].X != tlLabelWidth+tlPlotWidth*60/460 || m[1].Label != "critical 7d" || m[2].Label != "warning 30d" {
		t.Errorf("marks %+v", m)
	}
}
