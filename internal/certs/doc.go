// Package certs is tkgcert's model of a certificate and of kubeadm's
// certificate-expiration catalogue: the certificates and certificate
// authorities that `kubeadm certs check-expiration` lists for a
// control-plane node.
//
// Info is the one type for a certificate wherever it was found (a node's
// file, a Supervisor secret, a TLS endpoint, a VMCA root); an Expiration is
// a node's catalogue of them. ParseKubeconfigUser is the one reader of a
// kubeconfig's user.
//
// The catalogue can be obtained three ways:
//
//   - ReadNode reads a node's files (/etc/kubernetes/pki and the kubeconfig
//     files in /etc/kubernetes) through an fs.FS and parses them with
//     crypto/x509, following the rules of kubeadm v1.36's renewal manager:
//     which files, which CA signs what, when a certificate counts as
//     externally managed, and when it is missing.
//   - ParseText parses kubeadm's text output, from kubeadm 1.21 (as shown in
//     the TKG rotation procedure) to v1.36, ignoring the preamble and warning
//     lines around the two tables.
//   - ParseJSON and ParseYAML parse `kubeadm certs check-expiration -o json`
//     and `-o yaml` (output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo).
//
// WriteText, WriteJSON and WriteYAML render a catalogue byte for byte as
// kubeadm v1.36 does (the text form without the "[check-expiration]"
// preamble lines kubeadm prints before the tables).
//
// The package never prints or logs key material. ReadNode only checks whether
// a CA's key file exists; it reads private keys solely in strict mode, when a
// CA's key is absent, to check as kubeadm does that the keys of the
// certificates signed by that CA load, and then discards them.
package certs
