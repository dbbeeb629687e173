// Package version holds the build's version, set by the Makefile's ldflags.
package version

import "runtime/debug"

// Version is the tkgcert version; `make build` sets it from git describe.
var Version = ""

// Get returns Version, or the module version recorded by `go install`, or "dev".
func Get() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}
