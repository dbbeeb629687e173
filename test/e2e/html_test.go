package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// outputDir is where a test keeps what a person looks at afterwards (the
// HTML report, its screenshots): $TKGCERT_E2E_OUT, or testdata/out/ (not
// in git) under this package.
func outputDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TKGCERT_E2E_OUT")
	if dir == "" {
		dir = filepath.Join("testdata", "out")
	}
	dir, err := filepath.Abs(filepath.Join(dir, t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// chromium finds Debian's Chromium; without it the test fails and says
// how to install it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium is not installed, and the HTML report is tested in a real browser: " +
		"run `make deps` (hack/install-deps.sh: apt-get install chromium) and test again")
	return ""
}

// statusColor is the colour the page gives each status (report.css).
var statusColor = map[string]string{
	"OK": "rgb(27, 127, 59)", "WARNING": "rgb(178, 106, 0)", "CRITICAL": "rgb(198, 40, 40)",
	"EXPIRED": "rgb(127, 0, 0)", "ERROR": "rgb(106, 27, 154)",
}

// pageRow is a row of the page's table as the browser shows it.
type pageRow struct {
	Namespace, Cluster, Node, Certificate, Status string
	Class, Color                                  string
	Visible                                       bool
}

const readRows = `Array.from(document.querySelectorAll("#rows tbody tr")).map(tr => ({
	Namespace: tr.dataset.namespace, Cluster: tr.dataset.cluster, Node: tr.dataset.node,
	Certificate: tr.dataset.certificate, Status: tr.querySelector("td.status").firstChild.textContent,
	Class: tr.className, Color: getComputedStyle(tr.querySelector("td.status")).color,
	Visible: tr.checkVisibility()}))`

// expectedRows are the rows the page must show for a JSON report: every
// certificate graded as Evaluate grades it, and every error.
func expectedRows(r *inventory.Report) []string {
	v := inventory.Evaluate(r, 30*24*time.Hour, 7*24*time.Hour)
	var rows []string
	for _, f := range v.Findings {
		node, name := f.Node, f.Certificate.Name
		if node == "" {
			node = "Supervisor secret"
		}
		switch f.Kind {
		case inventory.KindKubeletClient:
			name = "kubelet client"
		case inventory.KindKubeconfigSecret:
			name = "client (admin kubeconfig)"
		}
		rows = append(rows, strings.Join([]string{f.Namespace, f.Cluster, node, name, string(f.Status)}, "|"))
	}
	for _, cl := range r.Clusters {
		for range cl.Errors {
			rows = append(rows, strings.Join([]string{cl.Namespace, cl.Name, "", "-", "ERROR"}, "|"))
		}
		for _, n := range cl.Nodes {
			for range n.Errors {
				rows = append(rows, strings.Join([]string{cl.Namespace, cl.Name, n.Name, "-", "ERROR"}, "|"))
			}
		}
	}
	slices.Sort(rows)
	return rows
}

func TestHTMLReport(t *testing.T) {
	browser := chromium(t)
	lab := startLab(t, "--address-block", "100", "--provision-delay", "0",
		"--cluster", "prod/web,light",
		"--cluster", "prod/payments:expiring,light",
		"--cluster", "legacy/billing:expired,light",
		"--cluster", "dev/sandbox,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)
	// One cluster whose etcd CA secret is gone: an error in the report.
	sh.run(`kubectl delete secret -n dev sandbox-etcd >/dev/null`)

	rep, _, jsonCode := checkJSON(t, kc, "-A")
	page, errOut, code := runTkgcert(t, kc, "check", "-A", "-o", "html")
	if code != jsonCode || code != inventory.ExitCritical {
		t.Errorf("check -o html exit %d, -o json exit %d; want 3 for both\n%s", code, jsonCode, errOut)
	}
	out := outputDir(t)
	file := filepath.Join(out, "report.html")
	if err := os.WriteFile(file, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("the report and its screenshots are in %s", out)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(browser), chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	// The console, exceptions and requests from the page's very start.
	var mu sync.Mutex
	var consoleErrors, requests []string
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithListener(func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
				var args []string
				for _, a := range ev.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				consoleErrors = append(consoleErrors, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " ")))
			}
		case *runtime.EventExceptionThrown:
			consoleErrors = append(consoleErrors, fmt.Sprintf("exception: %s (line %d)", ev.ExceptionDetails.Text, ev.ExceptionDetails.LineNumber))
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning {
				consoleErrors = append(consoleErrors, fmt.Sprintf("log %s: %s %s", ev.Entry.Level, ev.Entry.Text, ev.Entry.URL))
			}
		case *network.EventRequestWillBeSent:
			requests = append(requests, ev.Request.URL)
		}
	}))
	defer cancel()

	if err := chromedp.Do(ctx,
		chromedp.Navigate("file://"+file),
		chromedp.WaitVisible(chromedp.ID("rows")),
	); err != nil {
		t.Fatalf("loading the report in Chromium: %v", err)
	}
	rows := evaluate[[]pageRow](t, ctx, readRows)
	errorsShown := evaluate[[]string](t, ctx, `Array.from(document.querySelectorAll("#errors li")).filter(li => li.checkVisibility()).map(li => li.textContent)`)
	for name, shot := range map[string]chromedp.Action[[]byte]{"report.png": chromedp.CaptureScreenshot(), "report-full.png": chromedp.FullScreenshot(100)} {
		b, err := chromedp.Run(ctx, shot)
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(out, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the page loads nothing and logs no error", func(t *testing.T) {
		mu.Lock()
		defer mu.Unlock()
		for _, u := range requests {
			if !strings.HasPrefix(u, "file://") {
				t.Errorf("the page requested %s", u)
			}
		}
		if len(requests) != 1 {
			t.Errorf("requests %v, want the page alone", requests)
		}
		if len(consoleErrors) > 0 {
			t.Errorf("console:\n%s", strings.Join(consoleErrors, "\n"))
		}
	})

	t.Run("rows and colours match the JSON report", func(t *testing.T) {
		var got []string
		for _, r := range rows {
			got = append(got, strings.Join([]string{r.Namespace, r.Cluster, r.Node, r.Certificate, r.Status}, "|"))
			if want := "status-" + strings.ToLower(r.Status); r.Class != want {
				t.Errorf("row %s/%s %s %s: class %q, want %q", r.Namespace, r.Cluster, r.Node, r.Certificate, r.Class, want)
			}
			if r.Color != statusColor[r.Status] {
				t.Errorf("row %s/%s %s %s: %s shown in %s, want %s", r.Namespace, r.Cluster, r.Node, r.Certificate, r.Status, r.Color, statusColor[r.Status])
			}
			if !r.Visible {
				t.Errorf("row %s/%s %s %s hidden before any filter", r.Namespace, r.Cluster, r.Node, r.Certificate)
			}
		}
		slices.Sort(got)
		want := expectedRows(rep)
		if !slices.Equal(got, want) {
			t.Errorf("the page's %d rows differ from the JSON report's %d:\n%s", len(got), len(want), diffLines(want, got))
		}
		// The lab's scenarios: each status is there to compare.
		for _, st := range []string{"OK", "WARNING", "EXPIRED", "ERROR"} {
			if !slices.ContainsFunc(rows, func(r pageRow) bool { return r.Status == st }) {
				t.Errorf("no %s row", st)
			}
		}
		if len(errorsShown) != 1 || !strings.Contains(errorsShown[0], "dev/sandbox") || !strings.Contains(errorsShown[0], "sandbox-etcd") {
			t.Errorf("errors shown %q, want the missing sandbox-etcd secret", errorsShown)
		}
	})

	t.Run("filtering", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("filter"), "payments")); err != nil {
			t.Fatal(err)
		}
		typed := evaluate[[]pageRow](t, ctx, readRows)
		shown, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("shown")))
		if err != nil {
			t.Fatal(err)
		}
		// Empty the box as a person does, with backspace.
		if err := chromedp.Do(ctx,
			chromedp.SendKeys(chromedp.ID("filter"), strings.Repeat(kb.Backspace, len("payments"))),
			chromedp.SendKeys(chromedp.CSS(`input[data-filter="node"]`), "billing"),
		); err != nil {
			t.Fatal(err)
		}
		if v := evaluate[string](t, ctx, `document.getElementById("filter").value`); v != "" {
			t.Fatalf("the filter box still holds %q", v)
		}
		evaluate[any](t, ctx, `(() => { const s = document.querySelector('select[data-filter="status"]');
			s.value = "EXPIRED"; s.dispatchEvent(new Event("change")); return 0; })()`)
		byStatus := evaluate[[]pageRow](t, ctx, readRows)
		visible := func(rows []pageRow) (n int, clusters, statuses map[string]bool) {
			clusters, statuses = map[string]bool{}, map[string]bool{}
			for _, r := range rows {
				if r.Visible {
					n++
					clusters[r.Cluster], statuses[r.Status] = true, true
				}
			}
			return n, clusters, statuses
		}
		wantPayments := 0
		for _, r := range rows {
			if r.Cluster == "payments" {
				wantPayments++
			}
		}
		n, clusters, _ := visible(typed)
		if n != wantPayments || len(clusters) != 1 || !clusters["payments"] {
			t.Errorf("filter \"payments\": %d rows of clusters %v visible, want the %d of payments", n, clusters, wantPayments)
		}
		if want := fmt.Sprintf("%d of %d rows", wantPayments, len(rows)); shown != want {
			t.Errorf("the count says %q, want %q", shown, want)
		}
		wantExpired := 0
		for _, r := range rows {
			if strings.Contains(r.Node, "billing") && r.Status == "EXPIRED" {
				wantExpired++
			}
		}
		n, clusters, statuses := visible(byStatus)
		if n == 0 || n != wantExpired || !clusters["billing"] || len(clusters) != 1 || len(statuses) != 1 {
			t.Errorf("node billing, status EXPIRED: %d rows (clusters %v, statuses %v), want %d", n, clusters, statuses, wantExpired)
		}
	})

	t.Run("a node's kubeadm table opens", func(t *testing.T) {
		const opened = `document.querySelector("details.node").open && document.querySelector("details.node pre").checkVisibility()`
		before := evaluate[bool](t, ctx, opened)
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("details.node summary"))); err != nil {
			t.Fatal(err)
		}
		after := evaluate[bool](t, ctx, opened)
		text := evaluate[string](t, ctx, `document.querySelector("details.node pre").textContent`)
		if before || !after || !strings.Contains(text, "CERTIFICATE AUTHORITY") || !strings.Contains(text, "apiserver") {
			t.Errorf("folded %v, opened %v; table:\n%s", !before, after, text)
		}
	})

	t.Run("the JSON report is the one the page was made from", func(t *testing.T) {
		b, _ := json.Marshal(rep.Clusters)
		if !strings.Contains(string(b), `"name":"sandbox"`) {
			t.Error("the JSON report lacks a cluster")
		}
	})
}

// evaluate runs a JavaScript expression in the page and returns its value.
func evaluate[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// diffLines lists the lines only in want (-) and only in got (+).
func diffLines(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	for _, g := range got {
		if !slices.Contains(want, g) {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	return b.String()
}
