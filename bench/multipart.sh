#!/usr/bin/env bash
# A large upload through presignd's native multipart API, against `presignd dev`, timed
# step by step: create, sign every part URL, PUT the parts (straight to the local store),
# complete (presignd lists and checks the parts first), then read the object back and
# compare its SHA-256.
#
#   bench/multipart.sh [--size-mib 120] [--part-mib 8] [--parallel 4] [--binary PATH]
#
# Uses target/release/presignd when built (cargo build --release --bin presignd), else
# target/debug/presignd. Needs curl and jq.
set -euo pipefail
cd "$(dirname "$0")/.."

size_mib=120 part_mib=8 parallel=4 binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --size-mib) size_mib=$2; shift 2 ;;
    --part-mib) part_mib=$2; shift 2 ;;
    --parallel) parallel=$2; shift 2 ;;
    --binary) binary=$2; shift 2 ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$binary" ]; then
  binary=target/release/presignd
  [ -x "$binary" ] || binary=target/debug/presignd
fi
[ -x "$binary" ] || { echo "no presignd binary: cargo build --release --bin presignd" >&2; exit 2; }

work=$(mktemp -d)
trap 'kill "$dev_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PRESIGND_SERVER__BIND=127.0.0.1:$port PRESIGND_LOG__LEVEL=warn \
  "$binary" dev --data-dir "$work/data" > "$work/dev.out" 2> "$work/dev.err" &
dev_pid=$!
for _ in $(seq 1 300); do
  grep -q "^export TOKEN=" "$work/dev.out" 2>/dev/null && break
  kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.err" >&2; exit 1; }
  sleep 0.1
done
TOKEN=$(sed -n "s/^export TOKEN='\(.*\)'$/\1/p" "$work/dev.out")
[ -n "$TOKEN" ] || { echo "presignd dev printed no token" >&2; exit 1; }
API=http://127.0.0.1:$port
AUTH="Authorization: Bearer $TOKEN"
JSON='Content-Type: application/json'
key="alice/bench-$(date +%s).bin"

head -c $((size_mib * 1024 * 1024)) /dev/urandom > "$work/file"
(cd "$work" && split -b $((part_mib * 1024 * 1024)) -d -a 5 file part.)
parts=$(ls "$work"/part.* | wc -l)
now() { date +%s.%N; }
ms() { echo "($2 - $1) * 1000" | bc -l | xargs printf '%.0f'; }

t0=$(now)
upload=$(curl -sf -X POST "$API/uploads" -H "$AUTH" -H "$JSON" \
  -d "{\"bucket\":\"dev\",\"key\":\"$key\",\"content_length\":$((size_mib * 1024 * 1024))}")
id=$(jq -r .id <<<"$upload")
t1=$(now)
asks=$(seq 1 "$parts" | jq -s '{parts: map({part_number: .})}')
curl -sf -X POST "$API/uploads/$id/parts" -H "$AUTH" -H "$JSON" -d "$asks" > "$work/signed.json"
t2=$(now)
put_part() {
  local n=$1 file url etag
  file=$(printf '%s/part.%05d' "$work" $((n - 1)))
  url=$(jq -r ".parts[$((n - 1))].url" "$work/signed.json")
  etag=$(curl -sf -D - -o /dev/null -X PUT --data-binary @"$file" "$url" \
    | tr -d '\r' | awk -F': ' 'tolower($1)=="etag"{print $2}')
  printf '%s %s\n' "$n" "$etag" > "$work/etag.$n"
}
export -f put_part; export work
seq 1 "$parts" | xargs -P "$parallel" -I{} bash -c 'put_part {}'
t3=$(now)
completion=$(for n in $(seq 1 "$parts"); do cat "$work/etag.$n"; done \
  | jq -R -s 'split("\n") | map(select(length > 0) | split(" ") | {part_number: (.[0] | tonumber), etag: .[1]}) | {parts: .}')
done_json=$(curl -sf -X POST "$API/uploads/$id/complete" -H "$AUTH" -H "$JSON" -d "$completion")
t4=$(now)
get=$(curl -sf -X POST "$API/presign" -H "$AUTH" -H "$JSON" -d "{\"bucket\":\"dev\",\"key\":\"$key\",\"method\":\"GET\"}" | jq -r .url)
sent=$(sha256sum < "$work/file" | cut -d' ' -f1)
stored=$(curl -sf "$get" | sha256sum | cut -d' ' -f1)

echo "presignd native multipart upload: ${size_mib} MiB in $parts parts of ${part_mib} MiB, $parallel at a time ($binary)"
echo "  create         $(ms "$t0" "$t1") ms"
echo "  sign $parts parts  $(ms "$t1" "$t2") ms"
echo "  PUT parts      $(ms "$t2" "$t3") ms"
echo "  complete       $(ms "$t3" "$t4") ms   $(jq -c '{size, etag}' <<<"$done_json")"
echo "  total          $(ms "$t0" "$t4") ms"
if [ "$sent" = "$stored" ]; then echo "  read back: SHA-256 identical ($sent)"; else echo "  read back: SHA-256 DIFFERS" >&2; exit 1; fi
