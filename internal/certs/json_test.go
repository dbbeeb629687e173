package certs

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// kubeadm136Expiration is what testdata/kubeadm-v1.36.3.json says, row by row.
func kubeadm136Expiration() *Expiration {
	return &Expiration{
		Certificates: []Info{
			{Name: "admin.conf", CAName: "ca", NotAfter: date("2026-11-27T05:09:55Z")},
			{Name: "apiserver", CAName: "ca", NotAfter: date("2026-11-30T13:17:55Z")},
			{Name: "apiserver-etcd-client", CAName: "etcd-ca", NotAfter: date("2026-11-30T15:17:55Z")},
			{Name: "apiserver-kubelet-client", CAName: "ca", NotAfter: date("2026-11-27T03:17:55Z")},
			{Name: "controller-manager.conf", CAName: "ca", NotAfter: date("2026-11-30T13:27:55Z")},
			{Name: "etcd-healthcheck-client", CAName: "etcd-ca", NotAfter: date("2026-11-30T18:17:55Z")},
			{Name: "etcd-peer", Missing: true},
			{Name: "etcd-server", CAName: "etcd-ca", NotAfter: date("2026-11-30T16:17:55Z")},
			{Name: "front-proxy-client", CAName: "front-proxy-ca", NotAfter: date("2026-11-30T19:17:55Z"), ExternallyManaged: true},
			{Name: "scheduler.conf", CAName: "ca", NotAfter: date("2026-11-30T13:34:55Z")},
			{Name: "super-admin.conf", Missing: true},
		},
		Authorities: []Info{
			{IsCA: true, Name: "ca", NotAfter: date("2036-11-24T05:17:55Z")},
			{IsCA: true, Name: "etcd-ca", NotAfter: date("2036-11-23T05:17:55Z")},
			{IsCA: true, Name: "front-proxy-ca", NotAfter: date("2036-11-22T05:17:55Z"), ExternallyManaged: true},
		},
	}
}

func parseInfo(t *testing.T, data []byte) expirationInfo {
	t.Helper()
	var info expirationInfo
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatal(err)
	}
	return info
}

func TestParseJSONKubeadm136(t *testing.T) {
	got, err := ParseJSON(readTestdata(t, "kubeadm-v1.36.3.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kubeadm136Expiration(), got); diff != "" {
		t.Errorf("ParseJSON mismatch (-want +got):\n%s", diff)
	}

	got, err = ParseYAML(readTestdata(t, "kubeadm-v1.36.3.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kubeadm136Expiration(), got); diff != "" {
		t.Errorf("ParseYAML mismatch (-want +got):\n%s", diff)
	}

	got, err = ParseJSON(readTestdata(t, "kubeadm-v1.36.3-empty.json"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(allMissing(), got); diff != "" {
		t.Errorf("ParseJSON(empty) mismatch (-want +got):\n%s", diff)
	}
}

// TestWriteJSONKubeadm136 renders the parsed catalogue at the moment kubeadm
// ran and expects kubeadm's JSON and YAML byte for byte.
func TestWriteJSONKubeadm136(t *testing.T) {
	for _, fixture := range []string{"kubeadm-v1.36.3", "kubeadm-v1.36.3-empty"} {
		t.Run(fixture, func(t *testing.T) {
			want := readTestdata(t, fixture+".json")
			e, err := ParseJSON(want)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			if fixture == "kubeadm-v1.36.3" {
				now = kubeadmNow(t, want)
			}
			var got bytes.Buffer
			if err := WriteJSON(&got, e, now); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(string(want), got.String()); diff != "" {
				t.Errorf("WriteJSON mismatch (-kubeadm +got):\n%s", diff)
			}
		})
	}
	t.Run("yaml", func(t *testing.T) {
		e, err := ParseJSON(readTestdata(t, "kubeadm-v1.36.3.json"))
		if err != nil {
			t.Fatal(err)
		}
		// The YAML was printed about a second after the JSON.
		yamlNow := kubeadmNow(t, readTestdata(t, "kubeadm-v1.36.3.json"))
		want := string(readTestdata(t, "kubeadm-v1.36.3.yaml"))
		var got bytes.Buffer
		for _, delta := range []time.Duration{0, time.Second, 2 * time.Second} {
			got.Reset()
			if err := WriteYAML(&got, e, yamlNow.Add(delta)); err != nil {
				t.Fatal(err)
			}
			if got.String() == want {
				return
			}
		}
		t.Errorf("WriteYAML mismatch (-kubeadm +got):\n%s", cmp.Diff(want, got.String()))
	})
}

func TestJSONRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 27, 5, 17, 42, 0, time.UTC)
	in := &Expiration{
		Certificates: []Info{
			{Name: "admin.conf", CAName: "ca", NotAfter: now.Add(-90 * time.Second)},
			{Name: "apiserver", CAName: "ca", NotAfter: now.Add(363 * 24 * time.Hour), ExternallyManaged: true},
			{Name: "apiserver-etcd-client", Missing: true},
			{Name: "scheduler.conf", NotAfter: now.Add(40 * time.Second)},
		},
		Authorities: []Info{
			{IsCA: true, Name: "ca", NotAfter: now.Add(10 * 365 * 24 * time.Hour), ExternallyManaged: true},
			{IsCA: true, Name: "etcd-ca", Missing: true},
		},
	}
	var buf bytes.Buffer
	if err := WriteJSON(&buf, in, now); err != nil {
		t.Fatal(err)
	}
	info := parseInfo(t, buf.Bytes())
	if info.Kind != "CertificateExpirationInfo" || info.APIVersion != "output.kubeadm.k8s.io/v1alpha3" {
		t.Errorf("kind/apiVersion = %q/%q", info.Kind, info.APIVersion)
	}
	if got, want := info.Certificates[0].ResidualTimeSeconds, int64(-90); got != want {
		t.Errorf("admin.conf residualTime = %d, want %d", got, want)
	}
	if got, want := info.CertificateAuthorities[0].ResidualTimeSeconds, int64(10*365*24*3600); got != want {
		t.Errorf("ca residualTime = %d, want %d", got, want)
	}
	for _, want := range []string{
		`"caName"`, // only for rows with a CA name
		`"expirationDate": null`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, buf.String())
		}
	}
	if n := strings.Count(buf.String(), `"caName"`); n != 2 {
		t.Errorf("JSON has %d caName fields, want 2 (none for missing rows or an empty CA name)", n)
	}
	got, err := ParseJSON(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("ParseJSON(WriteJSON) mismatch (-want +got):\n%s", diff)
	}

	buf.Reset()
	if err := WriteYAML(&buf, in, now); err != nil {
		t.Fatal(err)
	}
	got, err = ParseYAML(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("ParseYAML(WriteYAML) mismatch (-want +got):\n%s", diff)
	}
}

func TestParseJSONSkipsLeadingLines(t *testing.T) {
	data := append([]byte("W1127 05:17:33.123456    4242 certs.go:474] WARNING: could not validate bounds for certificate CA\n"),
		readTestdata(t, "kubeadm-v1.36.3.json")...)
	got, err := ParseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(kubeadm136Expiration(), got); diff != "" {
		t.Errorf("mismatch (-want +got):\n%s", diff)
	}
}

func TestParseJSONErrors(t *testing.T) {
	tests := map[string]struct {
		in, wantErr string
	}{
		"not JSON":        {"CERTIFICATE   EXPIRES", "parsing kubeadm check-expiration JSON"},
		"wrong kind":      {`{"kind":"Config","apiVersion":"output.kubeadm.k8s.io/v1alpha3"}`, `kind "Config"`},
		"wrong group":     {`{"kind":"CertificateExpirationInfo","apiVersion":"v1"}`, `apiVersion "v1"`},
		"nameless":        {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3","certificates":[{"name":""}]}`, "certificates[0] has no name"},
		"no date":         {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3","certificates":[{"name":"apiserver","expirationDate":null}]}`, "apiserver has no expirationDate"},
		"CA without date": {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3","certificateAuthorities":[{"name":"ca"}]}`, "ca has no expirationDate"},
		"bad date":        {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3","certificates":[{"name":"apiserver","expirationDate":"Oct 04, 2023"}]}`, "parsing kubeadm check-expiration JSON"},
		"empty":           {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3"}`, "the certificate table is empty"},
		"no CAs":          {`{"kind":"CertificateExpirationInfo","apiVersion":"output.kubeadm.k8s.io/v1alpha3","certificates":[{"name":"apiserver","missing":true}]}`, "the certificate authority table is empty"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseJSON([]byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseJSON error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
	if _, err := ParseYAML([]byte("kind: [")); err == nil {
		t.Error("ParseYAML accepted malformed YAML")
	}
}

func TestWriteJSONNil(t *testing.T) {
	if err := WriteJSON(&bytes.Buffer{}, nil, time.Now()); err == nil {
		t.Error("WriteJSON(nil) succeeded")
	}
	if err := WriteYAML(&bytes.Buffer{}, nil, time.Now()); err == nil {
		t.Error("WriteYAML(nil) succeeded")
	}
}
