package certs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"
)

// The type kubeadm's `check-expiration -o json|yaml` prints.
const (
	// OutputGroup is the API group of kubeadm's structured output.
	OutputGroup = "output.kubeadm.k8s.io"
	// OutputAPIVersion is the apiVersion kubeadm v1.36 prints.
	OutputAPIVersion = OutputGroup + "/v1alpha3"
	// OutputKind is the kind kubeadm prints for check-expiration.
	OutputKind = "CertificateExpirationInfo"
)

// expirationInfo mirrors kubeadm's output/v1alpha3 CertificateExpirationInfo
// with its embedded metav1.TypeMeta, whose fields come first, kind before
// apiVersion.
type expirationInfo struct {
	Kind                   string            `json:"kind,omitempty"`
	APIVersion             string            `json:"apiVersion,omitempty"`
	Certificates           []infoCertificate `json:"certificates"`
	CertificateAuthorities []infoCertificate `json:"certificateAuthorities"`
}

// infoCertificate mirrors output/v1alpha3 Certificate, field order included.
type infoCertificate struct {
	Name                string   `json:"name"`
	ExpirationDate      infoTime `json:"expirationDate"`
	ResidualTimeSeconds int64    `json:"residualTime"`
	ExternallyManaged   bool     `json:"externallyManaged"`
	CAName              string   `json:"caName,omitempty"`
	Missing             bool     `json:"missing"`
}

// infoTime encodes like metav1.Time: null when zero, otherwise RFC 3339 in
// UTC with second precision.
type infoTime struct{ time.Time }

// MarshalJSON implements json.Marshaler as metav1.Time does.
func (t infoTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler as metav1.Time does (but keeps
// the time in UTC).
func (t *infoTime) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	// An offset can carry a year 0000 or 9999 date out of the four digits
	// RFC 3339 has for it in UTC, where it could not be written again.
	if y := p.UTC().Year(); y < 0 || y > 9999 {
		return fmt.Errorf("time %q is outside the years 0000 to 9999 in UTC", s)
	}
	t.Time = p.UTC()
	return nil
}

func toInfo(e *Expiration, now time.Time) *expirationInfo {
	info := &expirationInfo{Kind: OutputKind, APIVersion: OutputAPIVersion}
	for _, c := range e.Certificates {
		if c.Missing {
			info.Certificates = append(info.Certificates, infoCertificate{Name: c.Name, Missing: true})
			continue
		}
		info.Certificates = append(info.Certificates, infoCertificate{
			Name:                c.Name,
			ExpirationDate:      infoTime{c.NotAfter},
			ResidualTimeSeconds: residualSeconds(c.NotAfter.Sub(now)),
			ExternallyManaged:   c.ExternallyManaged,
			CAName:              c.CAName,
		})
	}
	for _, a := range e.Authorities {
		if a.Missing {
			info.CertificateAuthorities = append(info.CertificateAuthorities, infoCertificate{Name: a.Name, Missing: true})
			continue
		}
		info.CertificateAuthorities = append(info.CertificateAuthorities, infoCertificate{
			Name:                a.Name,
			ExpirationDate:      infoTime{a.NotAfter},
			ResidualTimeSeconds: residualSeconds(a.NotAfter.Sub(now)),
			ExternallyManaged:   a.ExternallyManaged,
		})
	}
	return info
}

// WriteJSON writes e as kubeadm v1.36's `certs check-expiration -o json`
// does, byte for byte: cli-runtime's JSON printer (json.MarshalIndent with
// four spaces and a final newline) over an output.kubeadm.k8s.io/v1alpha3
// CertificateExpirationInfo. residualTime is the whole seconds from now to
// expiration; missing rows carry only name, a null expirationDate and
// "missing": true.
func WriteJSON(w io.Writer, e *Expiration, now time.Time) error {
	if e == nil {
		return errors.New("writing certificate expiration JSON: no catalogue")
	}
	data, err := json.MarshalIndent(toInfo(e, now), "", "    ")
	if err != nil {
		return fmt.Errorf("encoding certificate expiration JSON: %w", err)
	}
	data = append(data, '\n')
	_, err = w.Write(data)
	return err
}

// WriteYAML writes e as kubeadm v1.36's `certs check-expiration -o yaml`
// does: cli-runtime's YAML printer, that is sigs.k8s.io/yaml over the same
// object as WriteJSON (keys sorted).
func WriteYAML(w io.Writer, e *Expiration, now time.Time) error {
	if e == nil {
		return errors.New("writing certificate expiration YAML: no catalogue")
	}
	data, err := yaml.Marshal(toInfo(e, now))
	if err != nil {
		return fmt.Errorf("encoding certificate expiration YAML: %w", err)
	}
	_, err = w.Write(data)
	return err
}

// ParseJSON parses the output of `kubeadm certs check-expiration -o json`.
// The kind must be CertificateExpirationInfo in the output.kubeadm.k8s.io
// group. NotAfter keeps the printed second precision; residualTime is not
// kept (it is relative to the moment kubeadm ran). Lines before the first
// line starting with "{" (klog warnings from a merged stderr) are skipped.
func ParseJSON(data []byte) (*Expiration, error) {
	var info expirationInfo
	dec := json.NewDecoder(bytes.NewReader(skipToObject(data)))
	if err := dec.Decode(&info); err != nil {
		return nil, fmt.Errorf("parsing kubeadm check-expiration JSON: %w", err)
	}
	return fromInfo(&info)
}

// skipToObject drops lines before the first line that starts with "{", such
// as klog warnings when kubeadm's stderr was merged into its stdout.
func skipToObject(data []byte) []byte {
	if t := bytes.TrimLeft(data, " \t\r\n"); len(t) > 0 && t[0] == '{' {
		return t
	}
	if i := bytes.Index(data, []byte("\n{")); i >= 0 {
		return data[i+1:]
	}
	return data
}

// ParseYAML parses the output of `kubeadm certs check-expiration -o yaml`
// (or JSON, which is YAML too), like ParseJSON.
func ParseYAML(data []byte) (*Expiration, error) {
	j, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, fmt.Errorf("parsing kubeadm check-expiration YAML: %w", err)
	}
	var info expirationInfo
	if err := json.Unmarshal(j, &info); err != nil {
		return nil, fmt.Errorf("parsing kubeadm check-expiration YAML: %w", err)
	}
	return fromInfo(&info)
}

func fromInfo(info *expirationInfo) (*Expiration, error) {
	if info.Kind != OutputKind {
		return nil, fmt.Errorf("parsing kubeadm check-expiration output: kind %q, want %q", info.Kind, OutputKind)
	}
	if group, _, _ := strings.Cut(info.APIVersion, "/"); group != OutputGroup {
		return nil, fmt.Errorf("parsing kubeadm check-expiration output: apiVersion %q, want %s", info.APIVersion, OutputAPIVersion)
	}
	e := &Expiration{}
	for i, c := range info.Certificates {
		if c.Name == "" {
			return nil, fmt.Errorf("parsing kubeadm check-expiration output: certificates[%d] has no name", i)
		}
		if c.Missing {
			e.Certificates = append(e.Certificates, Info{Name: c.Name, CAName: c.CAName, Missing: true})
			continue
		}
		if c.ExpirationDate.IsZero() {
			return nil, fmt.Errorf("parsing kubeadm check-expiration output: certificate %s has no expirationDate", c.Name)
		}
		e.Certificates = append(e.Certificates, Info{
			Name:              c.Name,
			CAName:            c.CAName,
			NotAfter:          c.ExpirationDate.Time,
			ExternallyManaged: c.ExternallyManaged,
		})
	}
	for i, a := range info.CertificateAuthorities {
		if a.Name == "" {
			return nil, fmt.Errorf("parsing kubeadm check-expiration output: certificateAuthorities[%d] has no name", i)
		}
		if a.Missing {
			e.Authorities = append(e.Authorities, Info{Name: a.Name, IsCA: true, Missing: true})
			continue
		}
		if a.ExpirationDate.IsZero() {
			return nil, fmt.Errorf("parsing kubeadm check-expiration output: certificate authority %s has no expirationDate", a.Name)
		}
		e.Authorities = append(e.Authorities, Info{
			Name:              a.Name,
			IsCA:              true,
			NotAfter:          a.ExpirationDate.Time,
			ExternallyManaged: a.ExternallyManaged,
		})
	}
	if err := e.checkNotEmpty(); err != nil {
		return nil, fmt.Errorf("parsing kubeadm check-expiration output: %w", err)
	}
	return e, nil
}

// checkNotEmpty refuses a catalogue with no certificate or no certificate
// authority: kubeadm lists every one of its catalogue, as !MISSING! when
// absent, so an empty table is not kubeadm's answer and must not read as
// "nothing expires".
func (e *Expiration) checkNotEmpty() error {
	switch {
	case len(e.Certificates) == 0:
		return errors.New("the certificate table is empty (kubeadm lists every certificate, missing ones as !MISSING!)")
	case len(e.Authorities) == 0:
		return errors.New("the certificate authority table is empty (kubeadm lists every CA, missing ones as !MISSING!)")
	}
	return nil
}
