// Command release packs the kubectl-tkgcert binaries that hack/release.sh
// cross-built into reproducible archives (tar.gz for linux and darwin, zip for
// windows), writes their SHA-256 sums in sha256sum's format to checksums.txt,
// and writes the krew plugin manifest plugins/tkgcert.yaml that points at
// them. Standard library only, so that releasing needs nothing but Go.
//
// Usage (hack/release.sh runs it):
//
//	go run ./hack/release -version v1.2.3 -bin-dir dist/.bin -out dist \
//	  -url https://github.com/tkgcert/tkgcert/releases/download/v1.2.3 \
//	  -platforms linux/amd64,windows/amd64 -epoch 1700000000 README.md LICENSE
//
// bin-dir holds one directory per platform, <os>_<arch>, each with
// kubectl-tkgcert (kubectl-tkgcert.exe on windows). The remaining arguments
// are documents (README, LICENSE) put next to the binary in every archive.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

func main() {
	var c config
	var platforms string
	var epoch int64
	flag.StringVar(&c.version, "version", "", "release version, vX.Y.Z[-pre] (required)")
	flag.StringVar(&c.binDir, "bin-dir", "", "directory with <os>_<arch>/kubectl-tkgcert[.exe] (required)")
	flag.StringVar(&c.out, "out", "dist", "output directory for archives, checksums.txt and plugins/tkgcert.yaml")
	flag.StringVar(&c.baseURL, "url", "", "base URL the archives are downloaded from (required)")
	flag.StringVar(&platforms, "platforms", "", "comma-separated os/arch list (required)")
	flag.Int64Var(&epoch, "epoch", 0, "modification time of every archived file, seconds since 1970 (SOURCE_DATE_EPOCH)")
	flag.Parse()
	c.docs = flag.Args()
	c.mtime = time.Unix(epoch, 0).UTC()
	for p := range strings.SplitSeq(platforms, ",") {
		if p = strings.TrimSpace(p); p != "" {
			c.platforms = append(c.platforms, p)
		}
	}
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
