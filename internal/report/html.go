package report

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

// The page's template, style and script, embedded: the report is one
// self-contained file that loads nothing from anywhere.
var (
	//go:embed html/report.tmpl
	pageTemplate string
	//go:embed html/report.css
	pageCSS string
	//go:embed html/report.js
	pageJS string
)

var page = template.Must(template.New("report").Parse(pageTemplate))

// StatusError is the status of a row that stands for an error: a cluster,
// node, endpoint or Supervisor that could not be read.
const StatusError = "ERROR"

// HTMLOptions describe the run a page reports on.
type HTMLOptions struct {
	// Command is the command line's subcommand ("check", "clusters",
	// "supervisor check").
	Command string
	// Scope says what was checked ("all namespaces", "namespace prod").
	Scope string
	// Warn and Critical are the thresholds the statuses were graded with.
	Warn, Critical time.Duration
}

// htmlRow is one row of the page's table: one certificate, or one error.
type htmlRow struct {
	Supervisor, Namespace, Cluster, Node, Certificate, CA string
	Expires, Residual                                     string
	ResidualSeconds                                       int64
	Status                                                string
	Message                                               string // for an error row
}

// Class is the row's status class, which colours it.
func (r htmlRow) Class() string { return statusClass(r.Status) }

func statusClass(s string) string {
	return "status-" + strings.ToLower(strings.ReplaceAll(s, " ", "-"))
}

// htmlCluster is one cluster's earliest expiry.
type htmlCluster struct {
	// Title is "[supervisor: ]namespace/name", or the Supervisor section's.
	Title                       string
	Supervisor, Namespace, Name string
	Certificate, Where          string
	Expires, Residual           string
	Status                      string
	Errors                      int
}

func (c htmlCluster) Class() string { return statusClass(c.Status) }

// htmlNode is one node's kubeadm-style table, folded away until opened.
type htmlNode struct {
	Supervisor, Cluster, Name, Address, Role string
	Text                                     string
}

// htmlError is one error, with where it happened.
type htmlError struct{ Where, Message string }

// htmlPage is everything the template lays out.
type htmlPage struct {
	HTMLOptions
	GeneratedAt   string
	Supervisors   []string
	MultiSup      bool
	Summary       string
	Rows          []htmlRow
	Clusters      []htmlCluster
	Nodes         []htmlNode
	Errors        []htmlError
	Timeline      timeline
	CSS           template.CSS
	JS            template.JS
	WarnText      string
	CriticalText  string
	StatusCounts  []statusCount
	ShowNodeTable bool
}

type statusCount struct {
	Status string
	Count  int
}

func (s statusCount) Class() string { return statusClass(s.Status) }

// HTML writes the report of check or supervisor check as one
// self-contained HTML page: a timeline of expiry dates per cluster with the
// thresholds marked, every cluster's earliest expiry, the errors, a table of
// every certificate that can be sorted and filtered, and per node kubeadm's
// table. The statuses are v's, the ones the other formats show.
func HTML(w io.Writer, r *inventory.Report, v inventory.Verdict, o HTMLOptions) error {
	now := r.GeneratedAt
	p := newPage(o, now)
	for _, s := range r.Supervisors {
		p.Supervisors = append(p.Supervisors, s.Context)
		if s.Error != "" {
			p.addError(htmlRow{Supervisor: s.Context}, "Supervisor "+s.Context, s.Error)
		}
	}
	p.MultiSup = len(p.Supervisors) > 1

	// The table: every certificate in the order of the report, so that
	// it reads like the other formats until sorted.
	status := map[findingKey]inventory.Status{}
	for _, f := range v.Findings {
		status[keyOf(f.Located)] = f.Status
	}
	var points []timelinePoint
	for l := range r.All() {
		c := l.Certificate
		if !c.Present() {
			continue
		}
		st := status[keyOf(l)]
		cluster := l.Cluster
		if cluster == "" {
			cluster = supervisorLane
		}
		row := htmlRow{Supervisor: l.Supervisor, Namespace: l.Namespace, Cluster: cluster, Node: where(l),
			Certificate: certificateName(l), CA: caName(l), Expires: date(c), Residual: pageResidual(c, now),
			ResidualSeconds: c.ResidualSeconds, Status: string(st)}
		p.Rows = append(p.Rows, row)
		points = append(points, timelinePoint{Lane: laneOf(l), At: c.NotAfter, Status: string(st),
			Label: row.Certificate + " on " + row.Node + ": " + row.Expires + " (" + string(st) + ")"})
	}

	// Errors, as rows too, so that filtering by status finds them.
	if s := r.Supervisor; s != nil {
		for _, e := range s.Errors {
			p.addError(htmlRow{Cluster: supervisorLane}, "Supervisor", e)
		}
		for _, ep := range s.Endpoints {
			for _, e := range ep.Errors {
				p.addError(htmlRow{Cluster: supervisorLane, Node: ep.Name, Certificate: ep.Service}, ep.Name+" "+ep.Where(), e)
			}
		}
	}
	clusterErrors := map[string]int{}
	for _, cl := range r.Clusters {
		id := clusterID(cl.Supervisor, cl.Namespace, cl.Name)
		for _, e := range cl.Errors {
			p.addError(htmlRow{Supervisor: cl.Supervisor, Namespace: cl.Namespace, Cluster: cl.Name}, supPrefix(cl.Supervisor)+cl.Namespace+"/"+cl.Name, e)
			clusterErrors[id]++
		}
		for _, n := range cl.Nodes {
			for _, e := range n.Errors {
				p.addError(htmlRow{Supervisor: cl.Supervisor, Namespace: cl.Namespace, Cluster: cl.Name, Node: n.Name},
					supPrefix(cl.Supervisor)+cl.Namespace+"/"+cl.Name+" node "+n.Name, e)
				clusterErrors[id]++
			}
			if len(n.Certificates) > 0 {
				var b bytes.Buffer
				if err := certs.WriteText(&b, n.Expiration(), now); err != nil {
					return err
				}
				p.Nodes = append(p.Nodes, htmlNode{Supervisor: cl.Supervisor, Cluster: cl.Namespace + "/" + cl.Name,
					Name: n.Name, Address: n.Address, Role: n.Role, Text: b.String()})
			}
		}
	}

	// Every cluster's earliest expiry: v's findings are soonest first.
	seen := map[string]bool{}
	for _, f := range v.Findings {
		id := laneOf(f.Located)
		if seen[id] {
			continue
		}
		seen[id] = true
		// A cluster that could not be read whole is an error unless a
		// certificate is near expiry: the exit code ranks them so.
		st := string(f.Status)
		if f.Status == inventory.StatusOK && clusterErrors[id] > 0 {
			st = StatusError
		}
		p.Clusters = append(p.Clusters, htmlCluster{Title: id, Supervisor: f.Supervisor, Namespace: f.Namespace, Name: f.Cluster,
			Certificate: certificateName(f.Located), Where: where(f.Located), Expires: date(f.Certificate),
			Residual: pageResidual(f.Certificate, now), Status: st, Errors: clusterErrors[id]})
	}
	for _, cl := range r.Clusters {
		if id := clusterID(cl.Supervisor, cl.Namespace, cl.Name); !seen[id] {
			seen[id] = true
			p.Clusters = append(p.Clusters, htmlCluster{Title: id, Supervisor: cl.Supervisor, Namespace: cl.Namespace, Name: cl.Name,
				Certificate: "-", Where: "-", Expires: "-", Residual: "-", Status: StatusError, Errors: clusterErrors[id]})
		}
	}
	p.ShowNodeTable = len(p.Nodes) > 0
	p.Summary = v.Summary()
	p.Timeline = newTimeline(points, now, o.Warn, o.Critical)
	p.countStatuses()
	return page.Execute(w, p)
}

// ClustersHTML writes `tkgcert clusters` as an HTML page: per cluster the
// earliest leaf expiry Cluster API recorded on its Machines and the
// earliest CA expiry, graded with o's thresholds.
func ClustersHTML(w io.Writer, list *inventory.ClusterList, now time.Time, o HTMLOptions) error {
	p := newPage(o, now)
	for _, s := range list.Supervisors {
		p.Supervisors = append(p.Supervisors, s.Context)
		if s.Error != "" {
			p.addError(htmlRow{Supervisor: s.Context}, "Supervisor "+s.Context, s.Error)
		}
	}
	p.MultiSup = len(p.Supervisors) > 1
	var points []timelinePoint
	var findings int
	counts := map[string]int{}
	for _, s := range list.Items {
		lane := clusterID(s.Supervisor, s.Namespace, s.Name)
		earliest := htmlCluster{Title: lane, Supervisor: s.Supervisor, Namespace: s.Namespace, Name: s.Name,
			Certificate: "-", Where: "-", Expires: "-", Residual: "-", Status: StatusError, Errors: len(s.Errors)}
		add := func(name, ca string, at *time.Time) {
			if at == nil {
				return
			}
			c := certs.Info{Name: name, NotAfter: *at, ResidualSeconds: int64(at.Sub(now) / time.Second)}
			st := string(grade(c, o.Warn, o.Critical))
			counts[st]++
			findings++
			p.Rows = append(p.Rows, htmlRow{Supervisor: s.Supervisor, Namespace: s.Namespace, Cluster: s.Name,
				Node: "Supervisor", Certificate: name, CA: ca, Expires: date(c), Residual: pageResidual(c, now),
				ResidualSeconds: c.ResidualSeconds, Status: st})
			points = append(points, timelinePoint{Lane: lane, At: *at, Status: st, Label: name + ": " + date(c) + " (" + st + ")"})
			if earliest.Expires == "-" || at.Before(earliestAt(earliest, now)) {
				earliest.Certificate, earliest.Where, earliest.Expires, earliest.Residual, earliest.Status =
					name, "Supervisor", date(c), pageResidual(c, now), st
			}
		}
		add("earliest Machine certificate", "-", s.EarliestLeafExpiry)
		add("earliest CA", "-", s.EarliestCAExpiry)
		for _, e := range s.Errors {
			p.addError(htmlRow{Supervisor: s.Supervisor, Namespace: s.Namespace, Cluster: s.Name}, supPrefix(s.Supervisor)+s.Namespace+"/"+s.Name, e)
		}
		p.Clusters = append(p.Clusters, earliest)
	}
	sort.SliceStable(p.Clusters, func(i, j int) bool {
		return earliestAt(p.Clusters[i], now).Before(earliestAt(p.Clusters[j], now))
	})
	p.Summary = fmt.Sprintf("%d clusters, %d expiry dates: %d expired, %d critical, %d warning; %d errors",
		len(list.Items), findings, counts[string(inventory.StatusExpired)], counts[string(inventory.StatusCritical)],
		counts[string(inventory.StatusWarning)], len(p.Errors))
	p.Timeline = newTimeline(points, now, o.Warn, o.Critical)
	p.countStatuses()
	return page.Execute(w, p)
}

// pageResidual is the time left in words, or how long ago the certificate
// expired (kubeadm's tables say <invalid>).
func pageResidual(c certs.Info, now time.Time) string {
	if !c.NotAfter.IsZero() && !c.NotAfter.After(now) {
		return "expired " + certs.ResidualTime(now.Sub(c.NotAfter)) + " ago"
	}
	return residual(c, now)
}

// earliestAt parses an htmlCluster's date back for sorting; clusters
// without one sort last.
func earliestAt(c htmlCluster, now time.Time) time.Time {
	t, err := time.Parse(certs.DateLayout, c.Expires)
	if err != nil {
		return now.AddDate(1000, 0, 0)
	}
	return t
}

// grade is Evaluate's grading of one certificate.
func grade(c certs.Info, warn, critical time.Duration) inventory.Status {
	switch left := time.Duration(c.ResidualSeconds) * time.Second; {
	case left <= 0:
		return inventory.StatusExpired
	case left <= critical:
		return inventory.StatusCritical
	case left <= warn:
		return inventory.StatusWarning
	}
	return inventory.StatusOK
}

func newPage(o HTMLOptions, now time.Time) *htmlPage {
	return &htmlPage{HTMLOptions: o, GeneratedAt: now.UTC().Format(certs.DateLayout),
		CSS: template.CSS(pageCSS), JS: template.JS(pageJS),
		WarnText: certs.ResidualTime(o.Warn), CriticalText: certs.ResidualTime(o.Critical)}
}

func (p *htmlPage) addError(row htmlRow, where, msg string) {
	row.Status, row.Message = StatusError, msg
	if row.Certificate == "" {
		row.Certificate = "-"
	}
	row.CA, row.Expires, row.Residual = "-", "-", "-"
	p.Rows = append(p.Rows, row)
	p.Errors = append(p.Errors, htmlError{Where: where, Message: msg})
}

func (p *htmlPage) countStatuses() {
	n := map[string]int{}
	for _, r := range p.Rows {
		n[r.Status]++
	}
	for _, s := range []string{StatusError, string(inventory.StatusExpired), string(inventory.StatusCritical),
		string(inventory.StatusWarning), string(inventory.StatusOK)} {
		p.StatusCounts = append(p.StatusCounts, statusCount{Status: s, Count: n[s]})
	}
}

type findingKey struct {
	sup, ns, cluster, node, kind, name string
	ep                                 any
	notAfter                           time.Time
}

func keyOf(l inventory.Located) findingKey {
	k := findingKey{sup: l.Supervisor, ns: l.Namespace, cluster: l.Cluster, node: l.Node, kind: l.Kind,
		name: l.Certificate.Name, notAfter: l.Certificate.NotAfter}
	if l.Endpoint != nil {
		k.ep = l.Endpoint
	}
	return k
}

// where is the row's NODE cell: the node or endpoint, or where a
// cluster's own certificates are kept.
func where(l inventory.Located) string {
	switch {
	case l.Endpoint != nil:
		return l.Endpoint.Name
	case l.Node != "":
		return l.Node
	}
	return "Supervisor secret"
}

func certificateName(l inventory.Located) string {
	switch {
	case l.Endpoint != nil:
		return l.Endpoint.Service
	case l.Kind == inventory.KindKubeletClient:
		return "kubelet client"
	case l.Kind == inventory.KindKubeconfigSecret:
		return "client (admin kubeconfig)"
	}
	return l.Certificate.Name
}

func caName(l inventory.Located) string {
	if l.Endpoint != nil && l.Endpoint.Trust != nil {
		return shortCA(l.Endpoint.Trust)
	}
	if l.Kind == inventory.KindCA || l.Kind == inventory.KindVMCARoot {
		return "(a CA)"
	}
	if ca := l.CALabel(); ca != "" {
		return ca
	}
	return "-"
}

// supervisorLane names the Supervisor section's certificates as a cluster.
const supervisorLane = "Supervisor and vCenter"

func laneOf(l inventory.Located) string {
	if l.Endpoint != nil || l.Kind == inventory.KindVMCARoot {
		return supervisorLane
	}
	return clusterID(l.Supervisor, l.Namespace, l.Cluster)
}

func clusterID(sup, ns, name string) string { return supPrefix(sup) + ns + "/" + name }

func supPrefix(sup string) string {
	if sup == "" {
		return ""
	}
	return sup + ": "
}
