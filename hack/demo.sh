#!/usr/bin/env bash
# make demo: start the lab with the seed's cluster and two more, run tkgcert
# against it as a platform engineer would, and leave the lab running.
# DEMO_STOP=1 stops the lab after the demo (for scripted runs).
set -euo pipefail
cd "$(dirname "$0")/.."
state="$PWD/.tkgcert-lab"
tkgcert="$PWD/bin/tkgcert"

"$PWD/bin/tkgcert-lab" up --state-dir "$state" --bin-dir "$PWD/bin" \
  --cluster tkg-cluster-ns/tkg-cluster \
  --cluster prod/legacy:expired,light \
  --cluster prod/billing:expiring,light &
lab=$!
trap 'kill -TERM $lab 2>/dev/null; wait $lab 2>/dev/null || true' EXIT
until [ -f "$state/ready" ]; do
  kill -0 $lab 2>/dev/null || { echo "the lab failed to start" >&2; exit 1; }
  sleep 0.5
done
export KUBECONFIG="$state/supervisor.kubeconfig"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

say kubectl get clusters -A
kubectl get clusters -A
say tkgcert clusters -A
"$tkgcert" clusters -A
say tkgcert check -n tkg-cluster-ns tkg-cluster
"$tkgcert" check -n tkg-cluster-ns tkg-cluster || true
say "tkgcert check -A -o json > report.json   # for monitoring: exit 0 ok, 2 warn, 3 critical/expired, 1 incomplete"
set +e
"$tkgcert" check -A -o json > "$state/report.json"
code=$?
set -e
echo "exit code $code; report in $state/report.json"
"$tkgcert" check -A | tail -6 || true

say tkgcert rotate -n tkg-cluster-ns tkg-cluster --yes
"$tkgcert" rotate -n tkg-cluster-ns tkg-cluster --yes
say tkgcert clusters -A
"$tkgcert" clusters -A

if [ "${DEMO_STOP:-}" = 1 ]; then
  exit 0
fi
printf '\nThe lab keeps running (Ctrl-C stops it). In another shell:\n  export KUBECONFIG=%s\n  bin/tkgcert check -A\n' "$KUBECONFIG"
wait $lab
