package certs

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedExpiration is what the seed's step-5 sample table says, row by row.
func seedExpiration() *Expiration {
	leaf := date("2023-10-04T23:00:00Z")
	ca := date("2032-10-01T22:56:00Z")
	return &Expiration{
		Certificates: []Info{
			{Name: "admin.conf", CAName: "", NotAfter: leaf},
			{Name: "apiserver", CAName: "ca", NotAfter: leaf},
			{Name: "apiserver-etcd-client", CAName: "etcd-ca", NotAfter: leaf},
			{Name: "apiserver-kubelet-client", CAName: "ca", NotAfter: leaf},
			{Name: "controller-manager.conf", CAName: "", NotAfter: leaf},
			{Name: "etcd-healthcheck-client", CAName: "etcd-ca", NotAfter: leaf},
			{Name: "etcd-peer", CAName: "etcd-ca", NotAfter: leaf},
			{Name: "etcd-server", CAName: "etcd-ca", NotAfter: leaf},
			{Name: "front-proxy-client", CAName: "front-proxy-ca", NotAfter: leaf},
			{Name: "scheduler.conf", CAName: "", NotAfter: leaf},
		},
		Authorities: []Info{
			{IsCA: true, Name: "ca", NotAfter: ca},
			{IsCA: true, Name: "etcd-ca", NotAfter: ca},
			{IsCA: true, Name: "front-proxy-ca", NotAfter: ca},
		},
	}
}

func TestParseTextSeed(t *testing.T) {
	got, err := ParseText(bytes.NewReader(readTestdata(t, "seed-kubeadm-v1.21.txt")), seedNow)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(seedExpiration(), got); diff != "" {
		t.Errorf("ParseText(seed) mismatch (-want +got):\n%s", diff)
	}
	if got := got.Certificates[0].NotAfter.Location(); got != time.UTC {
		t.Errorf("NotAfter location = %v, want UTC", got)
	}
}

// TestParseTextVariants feeds the seed's table in the shapes it arrives in
// over SSH and copy-paste: v1.36's preamble and fallback message, klog
// warnings merged from stderr, CRLF line ends, the Markdown indentation of
// the procedure document, and kubeadm's trailing blanks.
func TestParseTextVariants(t *testing.T) {
	seed := string(readTestdata(t, "seed-kubeadm-v1.21.txt"))
	tables := seed[strings.Index(seed, "CERTIFICATE "):]
	lines := func(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }
	join := func(ls []string, sep string) string { return strings.Join(ls, sep) + sep }

	var indented, trailing []string
	for _, l := range lines(seed) {
		indented = append(indented, "   "+l)
		if strings.HasSuffix(l, " no") {
			l += "      "
		}
		trailing = append(trailing, l)
	}
	tests := map[string]string{
		"tables only": tables,
		"v1.36 preamble": `[check-expiration] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...
[check-expiration] Use 'kubeadm init phase upload-config kubeadm --config your-config-file' to re-upload it.
[check-expiration] Error reading configuration from the Cluster. Falling back to default configuration

` + tables,
		"klog warnings": `W1127 05:17:33.123456    4242 certs.go:474] WARNING: could not validate bounds for certificate CA: the certificate has expired: NotBefore: 2022-10-04 22:51:00 +0000 UTC, NotAfter: 2032-10-01 22:56:00 +0000 UTC
W1127 05:17:33.123999    4242 utils.go:69] The recommended value for "clusterDNS" in "KubeletConfiguration" is: [10.96.0.10]; the provided value is: [100.64.0.10]
` + tables,
		"CRLF":             join(lines(seed), "\r\n"),
		"indented":         join(indented, "\n"),
		"trailing blanks":  join(trailing, "\n"),
		"no final newline": strings.TrimSuffix(seed, "\n"),
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := ParseText(strings.NewReader(in), seedNow)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(seedExpiration(), got); diff != "" {
				t.Errorf("mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseTextKubeadm136 parses real kubeadm v1.36.3 output: missing rows,
// "<invalid>" residual times, an external CA, and "ca" in the CA column of
// kubeconfig rows. Its rows are those of the JSON printed in the same run,
// at minute precision.
func TestParseTextKubeadm136(t *testing.T) {
	got, err := ParseText(bytes.NewReader(readTestdata(t, "kubeadm-v1.36.3.txt")), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	want := truncateToMinute(kubeadm136Expiration())
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}

	got, err = ParseText(bytes.NewReader(readTestdata(t, "kubeadm-v1.36.3-empty.txt")), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(allMissing(), got); diff != "" {
		t.Errorf("empty node: mismatch (-want +got):\n%s", diff)
	}
}

func allMissing() *Expiration {
	e := &Expiration{}
	for _, s := range CertificateSpecs() {
		e.Certificates = append(e.Certificates, Info{Name: s.Name, Missing: true})
	}
	for _, s := range AuthoritySpecs() {
		e.Authorities = append(e.Authorities, Info{IsCA: true, Name: s.Name, Missing: true})
	}
	return e
}

func truncateToMinute(e *Expiration) *Expiration {
	out := &Expiration{}
	for _, c := range e.Certificates {
		c.NotAfter = c.NotAfter.Truncate(time.Minute)
		out.Certificates = append(out.Certificates, c)
	}
	for _, a := range e.Authorities {
		a.NotAfter = a.NotAfter.Truncate(time.Minute)
		out.Authorities = append(out.Authorities, a)
	}
	return out
}

// kubeadmNow returns the moment, to within a second, at which kubeadm
// computed residualTime in its JSON output: expirationDate minus
// residualTime minus half a second (kubeadm truncates toward zero).
func kubeadmNow(t *testing.T, jsonOut []byte) time.Time {
	t.Helper()
	info := parseInfo(t, jsonOut)
	for _, c := range append(info.Certificates, info.CertificateAuthorities...) {
		if !c.Missing && c.ResidualTimeSeconds > 0 {
			return c.ExpirationDate.Add(-time.Duration(c.ResidualTimeSeconds)*time.Second - 500*time.Millisecond)
		}
	}
	t.Fatal("no row with a positive residual time")
	return time.Time{}
}

// TestWriteTextKubeadm136 renders the catalogue of the real kubeadm run at
// the moment kubeadm ran and expects its tables byte for byte, trailing
// blanks included.
func TestWriteTextKubeadm136(t *testing.T) {
	for _, fixture := range []string{"kubeadm-v1.36.3", "kubeadm-v1.36.3-empty"} {
		t.Run(fixture, func(t *testing.T) {
			jsonOut := readTestdata(t, fixture+".json")
			e, err := ParseJSON(jsonOut)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if fixture != "kubeadm-v1.36.3-empty" {
				now = kubeadmNow(t, jsonOut)
			}
			text := string(readTestdata(t, fixture+".txt"))
			want := text[strings.Index(text, "CERTIFICATE "):]
			var got strings.Builder
			if err := WriteText(&got, e, now); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got.String()); diff != "" {
				t.Errorf("WriteText mismatch (-kubeadm +got):\n%s", diff)
			}
		})
	}
}

func TestWriteTextRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 27, 5, 17, 42, 0, time.UTC)
	in := &Expiration{
		Certificates: []Info{
			{Name: "admin.conf", CAName: "ca", NotAfter: now.Add(-90 * time.Second), NotBefore: now.Add(-time.Hour), Subject: "CN=kubernetes-admin", SerialNumber: "01"},
			{Name: "apiserver", CAName: "ca", NotAfter: now.Add(363*24*time.Hour + 17*time.Second), ExternallyManaged: true},
			{Name: "apiserver-etcd-client", Missing: true},
			{Name: "etcd-server", CAName: "etcd-ca", NotAfter: now.Add(3*time.Hour + 5*time.Minute)},
			{Name: "scheduler.conf", CAName: "", NotAfter: now.Add(40 * time.Second)},
		},
		Authorities: []Info{
			{IsCA: true, Name: "ca", NotAfter: now.Add(9*365*24*time.Hour + 59*time.Second), ExternallyManaged: true, Subject: "CN=kubernetes"},
			{IsCA: true, Name: "etcd-ca", Missing: true},
			{IsCA: true, Name: "front-proxy-ca", NotAfter: now.Add(-48 * time.Hour)},
		},
	}
	var buf bytes.Buffer
	if err := WriteText(&buf, in, now); err != nil {
		t.Fatal(err)
	}
	want := "" +
		"CERTIFICATE                       EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n" +
		"admin.conf                        Nov 27, 2026 05:16 UTC   <invalid>       ca                      no      \n" +
		"apiserver                         Nov 25, 2027 05:17 UTC   363d            ca                      yes     \n" +
		"!MISSING! apiserver-etcd-client                                                                    \n" +
		"etcd-server                       Nov 27, 2026 08:22 UTC   3h5m            etcd-ca                 no      \n" +
		"scheduler.conf                    Nov 27, 2026 05:18 UTC   40s                                     no      \n" +
		"\n" +
		"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\n" +
		"ca                      Nov 25, 2035 05:18 UTC   9y              yes     \n" +
		"!MISSING! etcd-ca                                                \n" +
		"front-proxy-ca          Nov 25, 2026 05:17 UTC   <invalid>       no      \n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("WriteText mismatch (-want +got):\n%s", diff)
	}

	got, err := ParseText(&buf, now)
	if err != nil {
		t.Fatal(err)
	}
	// Text keeps names, CA names, minutes and the flags; not the details
	// read from the certificate.
	wantBack := truncateToMinute(in)
	for i := range wantBack.Certificates {
		c := &wantBack.Certificates[i]
		c.NotBefore, c.Subject, c.SerialNumber = time.Time{}, "", ""
	}
	for i := range wantBack.Authorities {
		wantBack.Authorities[i].Subject = ""
	}
	if diff := cmp.Diff(wantBack, got); diff != "" {
		t.Errorf("ParseText(WriteText) mismatch (-want +got):\n%s", diff)
	}
}

func TestWriteTextNil(t *testing.T) {
	if err := WriteText(&bytes.Buffer{}, nil, time.Now()); err == nil {
		t.Error("WriteText(nil) succeeded")
	}
}

func TestResidualTime(t *testing.T) {
	const (
		s   = time.Second
		m   = time.Minute
		h   = time.Hour
		day = 24 * h
		y   = 365 * day
	)
	tests := []struct {
		d    time.Duration
		want string
	}{
		{-10 * y, "<invalid>"},
		{-2 * s, "<invalid>"},
		{-1999 * time.Millisecond, "0s"}, // truncated to -1s: kubeadm tolerates one second of clock skew
		{-1 * s, "0s"},
		{-500 * time.Millisecond, "0s"},
		{0, "0s"},
		{1999 * time.Millisecond, "1s"},
		{59 * s, "59s"},
		{119 * s, "119s"},
		{2 * m, "2m"},
		{2*m + 30*s, "2m30s"},
		{9*m + 59*s, "9m59s"},
		{10*m + 30*s, "10m"},
		{179 * m, "179m"},
		{3 * h, "3h"},
		{3*h + 5*m, "3h5m"},
		{7*h + 59*m, "7h59m"},
		{8 * h, "8h"},
		{47*h + 59*m, "47h"},
		{48 * h, "2d"},
		{50 * h, "2d2h"},
		{7*day + 23*h, "7d23h"},
		{8 * day, "8d"},
		{363*day + 23*h, "363d"},
		{2*y - s, "729d"},
		{2 * y, "2y"},
		{2*y + 5*day, "2y5d"},
		{8 * y, "8y"},
		{10*y - 3*day, "9y"},
		{10 * y, "10y"},
	}
	for _, tt := range tests {
		if got := ResidualTime(tt.d); got != tt.want {
			t.Errorf("ResidualTime(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestParseTextErrors(t *testing.T) {
	const (
		certHeader = "CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n"
		certRow    = "apiserver                  Oct 04, 2023 23:00 UTC   363d            ca                      no\n"
		caHeader   = "CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\n"
		caRow      = "ca                      Oct 01, 2032 22:56 UTC   9y              no\n"
	)
	tests := map[string]struct {
		in, wantErr string
	}{
		"empty":               {"", "no certificate table"},
		"kubeadm error only":  {"error: Error checking external CA condition for ca certificate authority\n", "no certificate table"},
		"no CA table":         {certHeader + certRow, "certificate authority table not found"},
		"no certificate rows": {caHeader + caRow, "certificate table not found"},
		"garbage row":         {certHeader + "apiserver expires soon\n\n" + caHeader + caRow, "line 2: unrecognised certificate row"},
		"bad date":            {certHeader + "apiserver   Oct 34, 2023 23:00 UTC   363d   ca   no\n\n" + caHeader + caRow, "unrecognised expiration date"},
		"bad residual":        {certHeader + "apiserver   Oct 04, 2023 23:00 UTC   soon   ca   no\n\n" + caHeader + caRow, "unrecognised residual time"},
		"bad CA row":          {certHeader + certRow + "\n" + caHeader + "ca   Oct 01, 2032 22:56 UTC   9y   ca   no\n", "line 5: unrecognised certificate authority row"},
		"two nodes":           {certHeader + certRow + "\n" + caHeader + caRow + "\n" + certHeader + certRow, "line 7: second certificate table"},
		"two CA tables":       {certHeader + certRow + "\n" + caHeader + caRow + caHeader, "line 6: second certificate authority table"},
		"empty tables":        {certHeader + "\n" + caHeader, "the certificate table is empty"},
		"empty CA table":      {certHeader + certRow + "\n" + caHeader, "the certificate authority table is empty"},
		"unknown zone":        {certHeader + "apiserver   Oct 04, 2023 23:00 CEST   363d   ca   no\n\n" + caHeader + caRow, `offset of CEST cannot be known`},
		"zone not UTC":        {certHeader + certRow + "\n" + caHeader + "ca   Oct 01, 2032 22:56 PST   9y   no\n", `"Oct 01, 2032 22:56 PST" is not in UTC`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseText(strings.NewReader(tt.in), time.Now())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseText error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
