package capi

import (
	"fmt"
	"runtime/debug"
)

// APIVersion is a Cluster API version: v1beta1 or v1beta2.
type APIVersion string

const (
	// V1Beta1 is the API the seed's TKG clusters serve (spec.rolloutAfter).
	V1Beta1 APIVersion = "v1beta1"
	// V1Beta2 is current Cluster API (spec.rollout.after), since v1.11.
	V1Beta2 APIVersion = "v1beta2"
)

// Versions lists the supported API versions, oldest first.
var Versions = []APIVersion{V1Beta1, V1Beta2}

// ParseAPIVersion validates a user-given API version.
func ParseAPIVersion(s string) (APIVersion, error) {
	for _, v := range Versions {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("unsupported Cluster API version %q: use v1beta1 or v1beta2", s)
}

// apiModule is the module of Cluster API's typed API; the CRDs live in the
// main module, tagged together with it.
const apiModule = "sigs.k8s.io/cluster-api/api"

// fallbackReleaseVersion is used only when the binary carries no module
// information (for example when built outside module mode).
const fallbackReleaseVersion = "v1.14.2"

// ReleaseVersion returns the Cluster API release this binary is built
// against, taken from its module dependencies (so go.mod is the one place
// that pins it).
func ReleaseVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == apiModule {
				if d.Replace != nil {
					return d.Replace.Version
				}
				return d.Version
			}
		}
	}
	return fallbackReleaseVersion
}
