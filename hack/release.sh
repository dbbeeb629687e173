#!/usr/bin/env bash
# Cross-builds tkgcert (./cmd/tkgcert only, never the lab) as the kubectl
# plugin kubectl-tkgcert and packs it for krew: `make release` runs it.
#
# Writes into $DIST (default dist/):
#   tkgcert_<version>_<os>_<arch>.tar.gz   linux, darwin
#   tkgcert_<version>_windows_<arch>.zip   windows
#   checksums.txt                          SHA-256, `sha256sum -c checksums.txt` checks it
#   plugins/tkgcert.yaml                   krew manifest: one platform per archive
# Each archive holds kubectl-tkgcert (kubectl-tkgcert.exe on windows), README.md
# and LICENSE when the repository has one. The archives are reproducible: every
# file is stamped with SOURCE_DATE_EPOCH (default: the commit's time), sorted,
# owned by nobody, and the binaries are built with -trimpath.
#
# Environment:
#   VERSION      vX.Y.Z[-pre]. Default: the tag on HEAD when it is one (vX.Y.Z)
#                and the tree is clean, else v0.0.0-g<short sha>, with .dirty
#                appended when tracked files are modified.
#   RELEASE_URL  where the archives will be downloaded from; the manifest's
#                uri is RELEASE_URL/<archive>. Default: the GitHub release of VERSION.
#   PLATFORMS    space- or comma-separated os/arch list. Default: all six.
#   DIST         output directory. Default: dist (earlier archives in it are removed).
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
DIST=${DIST:-dist}
PLATFORMS=${PLATFORMS:-linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64}
PLATFORMS=${PLATFORMS//,/ }

if [ -z "${VERSION:-}" ]; then
	sha=$(git rev-parse --short=7 HEAD)
	clean=true
	git diff-index --quiet HEAD -- || clean=false
	if tag=$(git describe --tags --exact-match --match 'v*' 2>/dev/null) && $clean; then
		VERSION=$tag
	elif $clean; then
		VERSION=v0.0.0-g$sha
	else
		VERSION=v0.0.0-g$sha.dirty
	fi
fi
semver='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$'
if ! [[ $VERSION =~ $semver ]]; then
	echo "release: VERSION=$VERSION is not vX.Y.Z[-pre], which krew needs: tag the commit vX.Y.Z or set VERSION" >&2
	exit 1
fi
RELEASE_URL=${RELEASE_URL:-https://github.com/tkgcert/tkgcert/releases/download/$VERSION}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct)}
export SOURCE_DATE_EPOCH

mkdir -p "$DIST"
# Only what this script writes: DIST may hold other things.
rm -f "$DIST"/tkgcert_*.tar.gz "$DIST"/tkgcert_*.zip "$DIST"/checksums.txt "$DIST"/plugins/tkgcert.yaml
bin_dir=$DIST/.bin
trap 'rm -rf "$bin_dir"' EXIT

ldflags="-s -w -X github.com/tkgcert/tkgcert/internal/version.Version=$VERSION"
for p in $PLATFORMS; do
	os=${p%/*} arch=${p#*/}
	exe=kubectl-tkgcert
	[ "$os" = windows ] && exe=$exe.exe
	echo ">> building $exe $VERSION for $os/$arch" >&2
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch $GO build -trimpath -ldflags "$ldflags" \
		-o "$bin_dir/${os}_${arch}/$exe" ./cmd/tkgcert
done

docs=(README.md)
for f in LICENSE LICENSE.md LICENSE.txt; do
	[ -f "$f" ] && docs+=("$f")
done
$GO run ./hack/release -version "$VERSION" -bin-dir "$bin_dir" -out "$DIST" -url "$RELEASE_URL" \
	-platforms "${PLATFORMS// /,}" -epoch "$SOURCE_DATE_EPOCH" "${docs[@]}"
echo ">> $VERSION in $DIST: $(cd "$DIST" && shopt -s nullglob && echo tkgcert_*), checksums.txt, plugins/tkgcert.yaml" >&2
