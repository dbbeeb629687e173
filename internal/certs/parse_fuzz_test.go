package certs

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"k8s.io/client-go/tools/clientcmd"
)

// fuzzNow is the moment the fuzz targets write residual times for.
var fuzzNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// addTestdata adds every testdata file whose name ends in one of suffixes
// as a seed.
func addTestdata(f *testing.F, suffixes ...string) {
	names, err := filepath.Glob("testdata/*")
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range names {
		for _, s := range suffixes {
			if strings.HasSuffix(n, s) {
				data, err := os.ReadFile(n)
				if err != nil {
					f.Fatal(err)
				}
				f.Add(data)
			}
		}
	}
}

// checkParsed holds for every catalogue a parser accepts: both tables
// have rows, every row a name, and every row not missing an expiration
// in UTC; certificates are not CAs, authorities are.
func checkParsed(t *testing.T, e *Expiration) {
	t.Helper()
	if len(e.Certificates) == 0 || len(e.Authorities) == 0 {
		t.Fatalf("accepted %d certificates and %d authorities", len(e.Certificates), len(e.Authorities))
	}
	for i, c := range append(append([]Info(nil), e.Certificates...), e.Authorities...) {
		isCA := i >= len(e.Certificates)
		switch {
		case c.Name == "":
			t.Fatalf("row %d has no name: %+v", i, c)
		case c.IsCA != isCA:
			t.Fatalf("row %d (%s): IsCA %v in the wrong table", i, c.Name, c.IsCA)
		case c.Missing:
			if !c.NotAfter.IsZero() {
				t.Fatalf("missing %s has an expiration %v", c.Name, c.NotAfter)
			}
		case c.NotAfter.IsZero():
			t.Fatalf("%s is present without an expiration", c.Name)
		case c.NotAfter.Location() != time.UTC:
			t.Fatalf("%s expires in %v, not UTC", c.Name, c.NotAfter.Location())
		}
	}
}

// row is what a catalogue's text and JSON forms both carry of a row.
type row struct {
	Name, CAName      string
	NotAfter          time.Time
	Missing, External bool
	IsCA              bool
}

func rows(e *Expiration, precision time.Duration) []row {
	var out []row
	for _, c := range append(append([]Info(nil), e.Certificates...), e.Authorities...) {
		r := row{Name: c.Name, Missing: c.Missing, IsCA: c.IsCA}
		if !c.Missing {
			r.CAName, r.NotAfter, r.External = c.CAName, c.NotAfter.Truncate(precision), c.ExternallyManaged
		}
		out = append(out, r)
	}
	return out
}

func sameRows(t *testing.T, what string, a, b []row) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d rows, then %d", what, len(a), len(b))
	}
	for i := range a {
		if a[i].Name != b[i].Name || a[i].CAName != b[i].CAName || !a[i].NotAfter.Equal(b[i].NotAfter) ||
			a[i].Missing != b[i].Missing || a[i].External != b[i].External || a[i].IsCA != b[i].IsCA {
			t.Fatalf("%s: row %d was %+v, is %+v", what, i, a[i], b[i])
		}
	}
}

// printable tells whether s survives a table cell: no blanks and no
// control characters (tabwriter reads \v and \f as cell and line ends).
func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsGraphic(r) || unicode.IsSpace(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// FuzzParseText: kubeadm's text output, or anything else, parses to a
// sound catalogue or an error; a parsed catalogue written back with
// WriteText parses to the same rows.
func FuzzParseText(f *testing.F) {
	addTestdata(f, ".txt")
	var b bytes.Buffer
	if err := WriteText(&b, seedExpiration(), seedNow); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte(strings.ReplaceAll(b.String(), "\n", "\r\n")))
	// Edges of the date column: the first instant Go represents (the zero
	// time), year 0, and a zone that is not UTC.
	for _, d := range []string{"Jan 01, 0001 00:00 UTC", "Jan 01, 0000 00:00 UTC", "Dec 31, 9999 23:59 GMT", "Oct 04, 2023 23:00 CEST", "Oct 04, 2023 23:00 GMT+2"} {
		f.Add([]byte("CERTIFICATE   EXPIRES   RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n" +
			"apiserver   " + d + "   <invalid>   ca   no\n\n" +
			"CERTIFICATE AUTHORITY   EXPIRES   RESIDUAL TIME   EXTERNALLY MANAGED\n" +
			"ca   " + d + "   9y   no\n"))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseText(bytes.NewReader(data), fuzzNow)
		if err != nil {
			return
		}
		checkParsed(t, e)
		for _, r := range rows(e, time.Minute) {
			if !printable(r.Name) || !printable(r.CAName) && r.CAName != "" {
				return // a name no table cell carries unchanged
			}
		}
		var out bytes.Buffer
		if err := WriteText(&out, e, fuzzNow); err != nil {
			t.Fatalf("WriteText: %v", err)
		}
		back, err := ParseText(&out, fuzzNow)
		if err != nil {
			t.Fatalf("ParseText(WriteText(...)): %v\n%s", err, out.String())
		}
		sameRows(t, "text round trip", rows(e, time.Minute), rows(back, time.Minute))
	})
}

// FuzzParseJSON: kubeadm's JSON output, or anything else, parses to a
// sound catalogue or an error; WriteJSON of a parsed catalogue parses to
// the same rows at second precision.
func FuzzParseJSON(f *testing.F) {
	addTestdata(f, ".json")
	var b bytes.Buffer
	if err := WriteJSON(&b, seedExpiration(), seedNow); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("W1127 12:00:00.000000 1 warnings.go:70] a warning\n" + b.String()))
	f.Add([]byte(`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3",` +
		`"certificates":[{"name":"a","expirationDate":"0001-01-01T00:00:00Z"}],"certificateAuthorities":[{"name":"ca","missing":true}]}`))
	f.Add([]byte(`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3",` +
		`"certificates":[{"name":"a","expirationDate":"2026-01-01T00:00:00.999+14:00"}],"certificateAuthorities":[{"name":"ca","expirationDate":"9999-12-31T23:59:59-23:59"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseJSON(data)
		if err != nil {
			return
		}
		checkParsed(t, e)
		roundTripJSON(t, e)
	})
}

// FuzzParseYAML: as FuzzParseJSON, for kubeadm's YAML output.
func FuzzParseYAML(f *testing.F) {
	addTestdata(f, ".yaml", ".json")
	var b bytes.Buffer
	if err := WriteYAML(&b, seedExpiration(), seedNow); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add([]byte("kind: CertificateExpirationInfo\napiVersion: output.kubeadm.k8s.io/v1alpha3\n" +
		"certificates:\n- name: a\n  expirationDate: 2026-01-01T00:00:00Z\ncertificateAuthorities:\n- name: ca\n  expirationDate: 2026-01-01\n"))
	f.Add([]byte("kind: CertificateExpirationInfo\napiVersion: output.kubeadm.k8s.io/v1alpha3\n" +
		"certificates: &c\n- name: a\n  missing: true\ncertificateAuthorities: *c\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseYAML(data)
		if err != nil {
			return
		}
		checkParsed(t, e)
		roundTripJSON(t, e)
	})
}

func roundTripJSON(t *testing.T, e *Expiration) {
	t.Helper()
	var out bytes.Buffer
	if err := WriteJSON(&out, e, fuzzNow); err != nil {
		t.Fatalf("WriteJSON: %v", err)
	}
	back, err := ParseJSON(out.Bytes())
	if err != nil {
		t.Fatalf("ParseJSON(WriteJSON(...)): %v\n%s", err, out.String())
	}
	sameRows(t, "JSON round trip", rows(e, time.Second), rows(back, time.Second))
}

// FuzzParseKubeconfigUser: any bytes load as a kubeconfig whose current
// user exists, or are an error; an embedded client certificate is the
// same through KubeconfigClientCert and the user.
func FuzzParseKubeconfigUser(f *testing.F) {
	for _, p := range []string{"etc/kubernetes/admin.conf", "etc/kubernetes/super-admin.conf", "etc/kubernetes/kubelet.conf"} {
		if data, ok := cpFiles[p]; ok {
			f.Add(data.Data)
		}
	}
	if data, ok := workerFiles["etc/kubernetes/kubelet.conf"]; ok {
		f.Add(data.Data)
	}
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","current-context":"c","contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],` +
		`"users":[{"name":"u","user":{"client-certificate-data":"bm90IGEgY2VydGlmaWNhdGU="}}]}`))
	f.Add([]byte("apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: null\n"))
	f.Add([]byte("current-context: \"\"\ncontexts:\n- name: \"\"\n  context: {user: \"\"}\nusers:\n- name: \"\"\n  user: {}\n"))
	f.Add([]byte("not a kubeconfig"))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, uerr := ParseKubeconfigUser(data)
		c, cerr := KubeconfigClientCert(data)
		if uerr != nil {
			if cerr == nil {
				t.Fatalf("KubeconfigClientCert accepted what ParseKubeconfigUser refused: %v", uerr)
			}
			return
		}
		if u.Config == nil || u.AuthInfo == nil {
			t.Fatalf("accepted without config or user: %+v", u)
		}
		ctx := u.Config.Contexts[u.Config.CurrentContext]
		if ctx == nil || ctx.AuthInfo != u.Name || ctx.Cluster != u.ClusterName ||
			u.Config.AuthInfos[u.Name] != u.AuthInfo || u.Config.Clusters[u.ClusterName] != u.Cluster {
			t.Fatalf("user %q, cluster %q do not match the current context %+v", u.Name, u.ClusterName, ctx)
		}
		uc, ucerr := u.ClientCertificate()
		if (ucerr == nil) != (cerr == nil) || cerr == nil && (c == nil || !bytes.Equal(c.Raw, uc.Raw)) {
			t.Fatalf("KubeconfigClientCert = %v, %v; user's = %v, %v", c, cerr, uc, ucerr)
		}
		if cerr == nil && len(u.AuthInfo.ClientCertificateData) == 0 {
			t.Fatal("a client certificate from a user without client-certificate-data")
		}
		// What clientcmd writes, it loads to the same user.
		out, err := clientcmd.Write(*u.Config)
		if err != nil {
			return
		}
		again, err := ParseKubeconfigUser(out)
		if err != nil {
			t.Fatalf("ParseKubeconfigUser(Write(config)): %v\n%s", err, out)
		}
		if again.Name != u.Name || again.ClusterName != u.ClusterName ||
			!bytes.Equal(again.AuthInfo.ClientCertificateData, u.AuthInfo.ClientCertificateData) {
			t.Fatalf("written and loaded again, user %q cluster %q became %q %q", u.Name, u.ClusterName, again.Name, again.ClusterName)
		}
	})
}
