package certs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/tkgcert/tkgcert/internal/printer"
)

// DateLayout is the layout of kubeadm's EXPIRES column.
const DateLayout = "Jan 02, 2006 15:04 MST"

// Table headers as kubeadm prints them, cells separated by tabs before
// tabwriter aligns them.
const (
	certificateHeader = "CERTIFICATE\tEXPIRES\tRESIDUAL TIME\tCERTIFICATE AUTHORITY\tEXTERNALLY MANAGED"
	authorityHeader   = "CERTIFICATE AUTHORITY\tEXPIRES\tRESIDUAL TIME\tEXTERNALLY MANAGED"
	missingPrefix     = "!MISSING! "
)

// ResidualTime renders a time until expiration as kubeadm's RESIDUAL TIME
// column does: the duration is truncated to whole seconds (kubeadm's
// residualTime field) and formatted with apimachinery's
// duration.HumanDuration, which prints "<invalid>" for anything more than
// one second in the past.
func ResidualTime(d time.Duration) string {
	return duration.HumanDuration(time.Duration(residualSeconds(d)) * time.Second)
}

// residualSeconds is kubeadm's ResidualTimeSeconds: int64(d / time.Second).
func residualSeconds(d time.Duration) int64 {
	return int64(d / time.Second)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// WriteText writes e as kubeadm v1.36's `certs check-expiration` prints its
// two tables, byte for byte, with the residual time computed relative to
// now. The rows are written in the order of e. The "[check-expiration]"
// lines kubeadm prints before the tables are not written.
//
// Like kubeadm, the tables go through one text/tabwriter (minwidth 10,
// tabwidth 4, padding 3, padded with spaces) whose columns restart at the
// blank line between them; the last column is padded to 8 characters, so
// rows end in spaces.
func WriteText(w io.Writer, e *Expiration, now time.Time) error {
	if e == nil {
		return errors.New("writing certificate expiration table: no catalogue")
	}
	tw := printer.NewTable(w)
	fmt.Fprintln(tw, certificateHeader)
	for _, c := range e.Certificates {
		if c.Missing {
			fmt.Fprintln(tw, missingPrefix+c.Name+"\t\t\t\t")
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%-8v\n",
			c.Name,
			c.NotAfter.UTC().Format(DateLayout),
			ResidualTime(c.NotAfter.Sub(now)),
			c.CAName,
			yesNo(c.ExternallyManaged),
		)
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, authorityHeader)
	for _, a := range e.Authorities {
		if a.Missing {
			fmt.Fprintln(tw, missingPrefix+a.Name+"\t\t\t")
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%-8v\n",
			a.Name,
			a.NotAfter.UTC().Format(DateLayout),
			ResidualTime(a.NotAfter.Sub(now)),
			yesNo(a.ExternallyManaged),
		)
	}
	return tw.Flush()
}

// Row patterns of kubeadm's tables once tabwriter has aligned them. Names,
// residual times and CA names never contain blanks; the date has the fixed
// shape of DateLayout. The CA column of the certificate table is optional:
// older kubeadm (1.21, in the seed) left it empty for kubeconfig rows.
const datePattern = `[A-Z][a-z]{2} \d{2}, \d{4} \d{2}:\d{2} [A-Za-z0-9+-]+`

var (
	certificateRow = regexp.MustCompile(`^(\S+)\s+(` + datePattern + `)\s+(\S+)\s+(?:(\S+)\s+)?(yes|no)\s*$`)
	authorityRow   = regexp.MustCompile(`^(\S+)\s+(` + datePattern + `)\s+(\S+)\s+(yes|no)\s*$`)
	missingRow     = regexp.MustCompile(`^!MISSING! (\S+)\s*$`)
	residualTime   = regexp.MustCompile(`^(<invalid>|\d+[smhdy](\d+[smhd])?)$`)
)

// headerKey normalises a line for comparison with a table header: fields
// joined by single spaces.
func headerKey(s string) string { return strings.Join(strings.Fields(s), " ") }

var (
	certificateHeaderKey = headerKey(strings.ReplaceAll(certificateHeader, "\t", " "))
	authorityHeaderKey   = headerKey(strings.ReplaceAll(authorityHeader, "\t", " "))
)

// ParseText parses the text output of `kubeadm certs check-expiration`, from
// kubeadm 1.21 to v1.36. Lines before the tables (the "[check-expiration]"
// preamble, "Error reading configuration from the Cluster. Falling back to
// default configuration", klog warnings, a host name printed by a loop) are
// skipped; the two tables are found by their headers and each ends at a
// blank line. Leading indentation, trailing blanks and CRLF line ends are
// tolerated.
//
// The result carries the rows in the printed order. NotAfter has minute
// precision, as printed; the RESIDUAL TIME column is checked for shape but
// not kept, so now is not needed to interpret it and is accepted for
// symmetry with WriteText. CAName is "" where the CA column is empty.
func ParseText(r io.Reader, now time.Time) (*Expiration, error) {
	_ = now
	const (
		outside = iota
		inCertificates
		inAuthorities
	)
	var (
		e                          Expiration
		state                      = outside
		sawCertificates, sawAuthor bool
		lineNo                     int
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(strings.TrimSuffix(sc.Text(), "\r"))
		switch headerKey(line) {
		case certificateHeaderKey:
			if sawCertificates {
				return nil, fmt.Errorf("parsing kubeadm check-expiration output: line %d: second certificate table (output of more than one node?)", lineNo)
			}
			sawCertificates, state = true, inCertificates
			continue
		case authorityHeaderKey:
			if sawAuthor {
				return nil, fmt.Errorf("parsing kubeadm check-expiration output: line %d: second certificate authority table (output of more than one node?)", lineNo)
			}
			sawAuthor, state = true, inAuthorities
			continue
		}
		if line == "" {
			state = outside
			continue
		}
		switch state {
		case inCertificates:
			c, err := parseCertificateRow(line)
			if err != nil {
				return nil, fmt.Errorf("parsing kubeadm check-expiration output: line %d: %w", lineNo, err)
			}
			e.Certificates = append(e.Certificates, c)
		case inAuthorities:
			a, err := parseAuthorityRow(line)
			if err != nil {
				return nil, fmt.Errorf("parsing kubeadm check-expiration output: line %d: %w", lineNo, err)
			}
			e.Authorities = append(e.Authorities, a)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading kubeadm check-expiration output: %w", err)
	}
	switch {
	case !sawCertificates && !sawAuthor:
		return nil, errors.New("parsing kubeadm check-expiration output: no certificate table found (expected a header starting with CERTIFICATE   EXPIRES)")
	case !sawCertificates:
		return nil, errors.New("parsing kubeadm check-expiration output: certificate table not found")
	case !sawAuthor:
		return nil, errors.New("parsing kubeadm check-expiration output: certificate authority table not found")
	}
	if err := e.checkNotEmpty(); err != nil {
		return nil, fmt.Errorf("parsing kubeadm check-expiration output: %w", err)
	}
	return &e, nil
}

func parseCertificateRow(line string) (Info, error) {
	if m := missingRow.FindStringSubmatch(line); m != nil {
		return Info{Name: m[1], Missing: true}, nil
	}
	m := certificateRow.FindStringSubmatch(line)
	if m == nil {
		return Info{}, fmt.Errorf("unrecognised certificate row %q", line)
	}
	notAfter, err := parseDate(m[2])
	if err != nil {
		return Info{}, err
	}
	if !residualTime.MatchString(m[3]) {
		return Info{}, fmt.Errorf("certificate %s: unrecognised residual time %q", m[1], m[3])
	}
	return Info{Name: m[1], NotAfter: notAfter, CAName: m[4], ExternallyManaged: m[5] == "yes"}, nil
}

func parseAuthorityRow(line string) (Info, error) {
	if m := missingRow.FindStringSubmatch(line); m != nil {
		return Info{Name: m[1], IsCA: true, Missing: true}, nil
	}
	m := authorityRow.FindStringSubmatch(line)
	if m == nil {
		return Info{}, fmt.Errorf("unrecognised certificate authority row %q", line)
	}
	notAfter, err := parseDate(m[2])
	if err != nil {
		return Info{}, err
	}
	if !residualTime.MatchString(m[3]) {
		return Info{}, fmt.Errorf("certificate authority %s: unrecognised residual time %q", m[1], m[3])
	}
	return Info{Name: m[1], IsCA: true, NotAfter: notAfter, ExternallyManaged: m[4] == "yes"}, nil
}

// parseDate parses kubeadm's EXPIRES column. kubeadm prints the time in the
// certificate's location, which crypto/x509 sets to UTC. Any other zone
// abbreviation is refused: its offset cannot be known from the name alone
// (time.Parse would take an unknown one as UTC, silently shifting the date).
func parseDate(s string) (time.Time, error) {
	t, err := time.Parse(DateLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("unrecognised expiration date %q: %w", s, err)
	}
	if zone, _ := t.Zone(); zone != "UTC" && zone != "GMT" {
		return time.Time{}, fmt.Errorf("expiration date %q is not in UTC, and the offset of %s cannot be known from its name (kubeadm prints UTC; is this kubeadm's output?)", s, zone)
	}
	if t.IsZero() {
		// Go's zero time is how a missing certificate's expiration reads.
		return time.Time{}, fmt.Errorf("unrecognised expiration date %q: the zero time", s)
	}
	return t.UTC(), nil
}
