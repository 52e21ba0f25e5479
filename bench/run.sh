#!/usr/bin/env bash
# presignd load benchmark: one command, loopback only. See bench/README.md.
#
#   bench/run.sh [--duration SECONDS] [--rounds N] [--threads T] [--connections C]
#                [--no-postgres] [--no-companion] [--no-build] [--serve]
#                [--log-level LEVEL] [--filled-sqlite FILE] [--filled-postgres DB]
#                [--query-runs N] [--sweep-days D] [--queries-only]
#
# Builds presignd, the ceiling (examples/ceiling.rs) and the fixed-rate client
# (bench/rate.rs) in release mode; starts presignd twice (SQLite and PostgreSQL audit),
# the ceiling and Uppy Companion; then, in each round, drives every scenario in turn with
# wrk, so that the ratios compare runs made under the same machine load. Finally it
# measures latency at half of each presignd's maximum rate, and prints the table.
# --serve starts everything and waits, for profiling by hand.
# --filled-sqlite / --filled-postgres (stores made by bench/fill.rs) add presignd servers
# on copies of them: the same scenarios on a full log, the audit queries through the API
# (--query-runs each), and with --sweep-days a retention sweep's latency.
set -euo pipefail

DURATION=10
ROUNDS=3
THREADS=2
CONNECTIONS=64
POSTGRES=1
COMPANION=1
BUILD=1
SERVE=0
LOG_LEVEL=info
FILLED_SQLITE=""
FILLED_PG=""
QUERY_RUNS=20
SWEEP_DAYS=0
QUERIES_ONLY=0
PG_URL_BASE=${BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}

while [ $# -gt 0 ]; do
  case "$1" in
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --connections) CONNECTIONS=$2; shift 2 ;;
    --no-postgres) POSTGRES=0; shift ;;
    --no-companion) COMPANION=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --serve) SERVE=1; shift ;;
    --log-level) LOG_LEVEL=$2; shift 2 ;;
    --filled-sqlite) FILLED_SQLITE=$(realpath "$2"); shift 2 ;;
    --filled-postgres) FILLED_PG=$2; shift 2 ;;
    --query-runs) QUERY_RUNS=$2; shift 2 ;;
    --sweep-days) SWEEP_DAYS=$2; shift 2 ;;
    --queries-only) QUERIES_ONLY=1; shift ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}/release
WORK=$(mktemp -d "${TMPDIR:-/tmp}/presignd-bench.XXXXXX")
PIDS=()
PG_DBS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  for db in "${PG_DBS[@]}"; do
    psql "$PG_URL_BASE/postgres" -qAtc "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in wrk openssl jq curl; do
  command -v "$tool" >/dev/null || die "$tool is required (Debian: apt-get install -y $tool)"
done
if [ "$POSTGRES" = 1 ]; then
  command -v psql >/dev/null || die "psql is required, or pass --no-postgres"
  psql "$PG_URL_BASE/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1 \
    || die "PostgreSQL does not answer at $PG_URL_BASE (start it, or pass --no-postgres)"
fi
if [ "$COMPANION" = 1 ] && ! command -v node >/dev/null; then
  log "node not found: skipping Uppy Companion"
  COMPANION=0
fi

# ---------------------------------------------------------------- build
if [ "$BUILD" = 1 ]; then
  log "building presignd, examples/ceiling.rs and bench/rate.rs (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin presignd --example ceiling --example rate)
fi
PRESIGND=$TARGET/presignd
CEILING=$TARGET/examples/ceiling
RATE=$TARGET/examples/rate
for bin in "$PRESIGND" "$CEILING" "$RATE"; do
  [ -x "$bin" ] || die "$bin is missing (run without --no-build)"
done
if [ "$COMPANION" = 1 ] && [ ! -d "$BENCH/companion/node_modules/@uppy/companion" ]; then
  log "installing @uppy/companion (npm ci, versions pinned by bench/companion/package-lock.json)"
  (cd "$BENCH/companion" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# ---------------------------------------------------------------- keys, tokens, config
# Test-only material, made fresh for this run and deleted with $WORK.
HS_ISSUER=https://idp.bench/hs
RS_ISSUER=https://idp.bench/rs
HS_SECRET=$(openssl rand -hex 32)
openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$WORK/rs256.key"
openssl pkey -in "$WORK/rs256.key" -pubout -out "$WORK/rs256.pub"
export AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE
export AWS_SECRET_ACCESS_KEY=$(openssl rand -hex 20)
export AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
S3_ENDPOINT=http://127.0.0.1:9000   # never contacted: presigning is offline

cat >"$WORK/presignd.toml" <<EOF
[server]
bind = "127.0.0.1:0"

[[auth.issuers]]
issuer = "$HS_ISSUER"
audiences = ["presignd"]
algorithms = ["HS256"]
secret = "$HS_SECRET"

[[auth.issuers]]
issuer = "$RS_ISSUER"
audiences = ["presignd"]
algorithms = ["RS256"]
public_key_pem = "$WORK/rs256.pub"

[policy]
file = "$BENCH/policy.json"

[s3]
region = "us-east-1"
endpoint_url = "$S3_ENDPOINT"
force_path_style = true

[log]
# The production default (json, info: one access-log line per request) unless --log-level.
format = "json"
level = "$LOG_LEVEL,presignd::cli=info"
EOF
# --config, not PRESIGND_CONFIG: the environment layer would read that as a config key.
CONFIG=$WORK/presignd.toml
# Rate limits off: the benchmark is one client address and 16 subjects.
export PRESIGND_RATE_LIMIT__PER_SUBJECT_PER_SECOND=0
export PRESIGND_RATE_LIMIT__PER_IP_PER_SECOND=0
unset RUST_LOG

b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
rs256_token() { # SUB
  local now header payload
  now=$(date +%s)
  header=$(printf '{"alg":"RS256","typ":"JWT"}' | b64url)
  payload=$(printf '{"iss":"%s","aud":"presignd","sub":"%s","tenant":"acme","groups":["staff"],"iat":%d,"exp":%d}' \
    "$RS_ISSUER" "$1" "$now" $((now + 7200)) | b64url)
  printf '%s.%s.%s' "$header" "$payload" \
    "$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -sign "$WORK/rs256.key" -binary | b64url)"
}

# 16 callers x 4 objects: GET URLs for the caller's own folder, allowed by the 48th of the
# policy's 51 statements (OwnFolderRead; the 49th, OwnFolderShare, allows share links).
: >"$WORK/presign-hs.tsv"
: >"$WORK/presign-rs.tsv"
for u in $(seq -w 1 16); do
  sub=user-00$u
  hs=$("$PRESIGND" --config "$CONFIG" token --sub "$sub" --claim tenant=acme --claim 'groups=["staff"]' --ttl 2h)
  rs=$(rs256_token "$sub")
  for n in 1 2 3 4; do
    body=$(printf '{"bucket":"bench-data","key":"users/%s/photos/img-%04d.jpg","method":"GET","content_type":"image/jpeg","expires_in":600}' "$sub" $((n * 37)))
    printf 'POST\t/presign\t%s\t%s\n' "$hs" "$body" >>"$WORK/presign-hs.tsv"
    printf 'POST\t/presign\t%s\t%s\n' "$rs" "$body" >>"$WORK/presign-rs.tsv"
  done
done
# Batches of 100 and 1000 GET URLs, one caller per line, keys in the caller's own folder.
for size in 100 1000; do
  : >"$WORK/batch-$size.tsv"
  while IFS=$'\t' read -r _ _ hs body; do
    sub=$(jq -r '.key | split("/")[1]' <<<"$body")
    items=$(jq -cn --arg sub "$sub" --argjson n "$size" \
      '[range($n) | {bucket: "bench-data", key: "users/\($sub)/photos/img-\(.).jpg", method: "GET", content_type: "image/jpeg", expires_in: 600}]')
    printf 'POST\t/presign/batch\t%s\t{"items":%s}\n' "$hs" "$items" >>"$WORK/batch-$size.tsv"
  done < <(awk 'NR % 4 == 1' "$WORK/presign-hs.tsv")
done
printf 'GET\t/healthz\t-\t-\n' >"$WORK/healthz.tsv"
: >"$WORK/companion.tsv"
for n in $(seq 1 64); do
  printf 'GET\t/s3/params?filename=img-%04d.jpg&type=image%%2Fjpeg\t-\t-\n' "$n" >>"$WORK/companion.tsv"
done

# ---------------------------------------------------------------- servers
wait_for_address() { # LOGFILE PID -> prints host:port from "listening on ADDR" or presignd's JSON line
  local i addr
  for i in $(seq 1 300); do
    addr=$(grep -ohE '"address":"127\.0\.0\.1:[0-9]+"|listening on 127\.0\.0\.1:[0-9]+' "$1" 2>/dev/null \
      | grep -oE '127\.0\.0\.1:[0-9]+' | head -1 || true)
    if [ -n "$addr" ]; then echo "$addr"; return 0; fi
    kill -0 "$2" 2>/dev/null || { cat "$1" >&2; return 1; }
    sleep 0.1
  done
  cat "$1" >&2
  return 1
}

declare -A ADDR PID
start_presignd() { # NAME DATABASE_URL [RETENTION_DAYS]
  PRESIGND_AUDIT__DATABASE_URL=$2 PRESIGND_AUDIT__RETENTION_DAYS=${3:-365} \
    "$PRESIGND" --config "$CONFIG" serve >"$WORK/$1.log" 2>&1 &
  PID[$1]=$!
  PIDS+=($!)
  ADDR[$1]=$(wait_for_address "$WORK/$1.log" "${PID[$1]}") || die "presignd ($1) did not start"
  log "presignd ($1) on ${ADDR[$1]}, pid ${PID[$1]}"
}

start_presignd sqlite "sqlite://$WORK/audit.db"
# Batches get a server of their own, so that its peak RSS is the batches' alone.
start_presignd sqlite-batch "sqlite://$WORK/batch.db"
if [ "$POSTGRES" = 1 ]; then
  PG_DB=presignd_bench_$(date +%s)_$$
  PG_DBS+=("$PG_DB")
  psql "$PG_URL_BASE/postgres" -qAtc "CREATE DATABASE $PG_DB" >/dev/null
  start_presignd postgres "$PG_URL_BASE/$PG_DB"
fi
# Full logs: copies, so that every run starts from the same rows.
copy_pg() { # TEMPLATE -> prints the new database's name
  local db=presignd_bench_$(date +%s)_$$_$RANDOM
  psql "$PG_URL_BASE/postgres" -qAtc "CREATE DATABASE $db TEMPLATE $1" >/dev/null
  echo "$db"
}
if [ -n "$FILLED_SQLITE" ]; then
  log "copying $FILLED_SQLITE"
  cp "$FILLED_SQLITE" "$WORK/filled.db"
  # Written back before it serves: else the first fsyncs wait behind gigabytes of writeback.
  sync "$WORK/filled.db"
  start_presignd sqlite-full "sqlite://$WORK/filled.db"
fi
if [ -n "$FILLED_PG" ]; then
  log "copying PostgreSQL database $FILLED_PG"
  PG_FULL_DB=$(copy_pg "$FILLED_PG")
  PG_DBS+=("$PG_FULL_DB")
  start_presignd postgres-full "$PG_URL_BASE/$PG_FULL_DB"
fi

CEILING_ISSUER=$HS_ISSUER CEILING_AUDIENCE=presignd CEILING_SECRET=$HS_SECRET \
  CEILING_REGION=us-east-1 CEILING_ENDPOINT_URL=$S3_ENDPOINT \
  "$CEILING" >"$WORK/ceiling.log" 2>&1 &
PID[ceiling]=$!
PIDS+=($!)
ADDR[ceiling]=$(wait_for_address "$WORK/ceiling.log" "${PID[ceiling]}") || die "ceiling did not start"
log "ceiling on ${ADDR[ceiling]}, pid ${PID[ceiling]}"

if [ "$COMPANION" = 1 ]; then
  # Companion takes a fixed port: ask the kernel for a free one.
  port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
  mkdir -p "$WORK/companion-data"
  (cd "$BENCH/companion" && NODE_ENV=production BENCH_PORT=$port BENCH_DATADIR=$WORK/companion-data \
    BENCH_BUCKET=bench-data BENCH_REGION=us-east-1 BENCH_ENDPOINT_URL=$S3_ENDPOINT \
    exec node server.mjs) >"$WORK/companion.log" 2>&1 &
  PID[companion]=$!
  PIDS+=($!)
  if ADDR[companion]=$(wait_for_address "$WORK/companion.log" "${PID[companion]}"); then
    log "companion on ${ADDR[companion]}, pid ${PID[companion]}"
  else
    log "Uppy Companion did not start: skipping it"
    COMPANION=0
  fi
fi

# Each request kind once by hand: a 200 with the expected shape, or stop here.
check() { # NAME URL-PATH TSV-FILE JQ-FILTER
  local line method path token body out
  line=$(head -1 "$3")
  IFS=$'\t' read -r method path token body <<<"$line"
  local args=(-sS -X "$method" -w '\n%{http_code}')
  [ "$token" != - ] && args+=(-H "Authorization: Bearer $token")
  [ "$body" != - ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
  out=$(curl "${args[@]}" "http://${ADDR[$1]}$path")
  [ "$(tail -1 <<<"$out")" = 200 ] || die "$1 $path answered: $out"
  head -n -1 <<<"$out" | jq -e "$4" >/dev/null || die "$1 $path: unexpected answer: $out"
}
check ceiling /presign "$WORK/presign-hs.tsv" '.url | test("X-Amz-Signature")'
check sqlite /presign "$WORK/presign-hs.tsv" '.url | test("x-presignd-id")'
check sqlite /presign "$WORK/presign-rs.tsv" '.url | test("x-presignd-id")'
check sqlite-batch /presign/batch "$WORK/batch-100.tsv" '[.results[] | .ok.url | test("x-presignd-id")] | length == 100 and all'
[ "$POSTGRES" = 1 ] && check postgres /presign "$WORK/presign-hs.tsv" '.url | test("x-presignd-id")'
[ "$COMPANION" = 1 ] && check companion /s3/params "$WORK/companion.tsv" '.fields["X-Amz-Signature"]'

# Share links: one unlimited link per caller (uses are not counted, as for any link without
# max_uses), for the first object of each; each redemption re-decides the policy for the
# creator, presigns a 60 s GET and commits its row before the 302.
make_links() { # SERVER
  : >"$WORK/links-$1.tsv"
  while IFS=$'\t' read -r _ _ hs body; do
    key=$(jq -r .key <<<"$body")
    url=$(curl -sS -X POST "http://${ADDR[$1]}/links" -H "Authorization: Bearer $hs" \
      -H 'Content-Type: application/json' \
      --data-binary "$(jq -cn --arg key "$key" '{bucket: "bench-data", key: $key}')" | jq -r .url)
    [[ "$url" == */l/* ]] || die "$1: POST /links gave no link"
    printf 'GET\t/l/%s\t-\t-\n' "${url##*/l/}" >>"$WORK/links-$1.tsv"
  done < <(awk 'NR % 4 == 1' "$WORK/presign-hs.tsv")
  IFS=$'\t' read -r _ path _ _ < <(head -1 "$WORK/links-$1.tsv")
  status=$(curl -sS -o /dev/null -w '%{http_code}' "http://${ADDR[$1]}$path")
  [ "$status" = 302 ] || die "$1 GET /l/{token} answered $status, not 302"
}
make_links sqlite
[ "$POSTGRES" = 1 ] && make_links postgres

if [ "$SERVE" = 1 ]; then
  # For profiling: everything set up, no load; drive it by hand until Ctrl-C.
  for server in "${!ADDR[@]}"; do echo "$server ${ADDR[$server]} pid ${PID[$server]}"; done
  echo "request files: $WORK/*.tsv (wrk -s $BENCH/requests.lua http://ADDR -- FILE)"
  wait
fi

# The audit queries of a full log, through the API with curl, one at a time on an idle
# server: --query-runs of each; time_total from curl (connect included, loopback).
QUERIES=$WORK/queries.jsonl
: >"$QUERIES"
measure_queries() { # SERVER
  local ops leaked signature since until q name params args i times events
  ops=$("$PRESIGND" --config "$CONFIG" token --sub ops-bench --claim 'groups=["ops"]' --ttl 1h)
  IFS=$'\t' read -r _ _ token body < <(head -1 "$WORK/presign-hs.tsv")
  leaked=$(curl -sS -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data-binary "$body" "http://${ADDR[$1]}/presign" | jq -r .url)
  signature=$(jq -rn --arg u "$leaked" '$u | capture("X-Amz-Signature=(?<s>[0-9a-f]+)").s')
  since=$(date -u -d '2 days ago' +%Y-%m-%dT%H:%M:%SZ)
  until=$(date -u -d '1 day ago' +%Y-%m-%dT%H:%M:%SZ)
  # What to look for: a user's GET in that day (subject, bucket, the user's folder), from
  # the log itself, so that every filter names rows that exist.
  local pick user bucket folder
  pick=$(curl -sS -G -H "Authorization: Bearer $ops" --data-urlencode "since=$since" \
    --data-urlencode "until=$until" --data-urlencode 'key_prefix=users/' \
    --data-urlencode limit=1 "http://${ADDR[$1]}/audit" | jq -c '.events[0]')
  [ "$pick" != null ] || die "$1: no user rows in the day before yesterday (is it a bench/fill.rs store?)"
  user=$(jq -r .subject <<<"$pick")
  bucket=$(jq -r .bucket <<<"$pick")
  folder=$(jq -r '.key | split("/")[0:2] | join("/") + "/"' <<<"$pick")
  log "queries on $1: subject $user, bucket $bucket, prefix $folder, day $since"
  for q in \
    "url|url=$leaked" \
    "subject+24h (service)|subject=svc-03|since=$since|until=$until" \
    "subject+24h (user)|subject=$user|since=$since|until=$until" \
    "bucket+prefix+24h (user)|bucket=$bucket|key_prefix=$folder|since=$since|until=$until" \
    "bucket+prefix+24h (broad)|bucket=$bucket|key_prefix=users/|since=$since|until=$until" \
    "first page|limit=100" \
    "signature (7 days)|signature=$signature" \
    "subject, no window|subject=$user" \
    "bucket+prefix, no window|bucket=$bucket|key_prefix=$folder"; do
    IFS='|' read -r name params <<<"$q"
    args=()
    IFS='|' read -ra kv <<<"$params"
    for p in "${kv[@]}"; do args+=(--data-urlencode "$p"); done
    times=()
    failed=0
    events=0
    for i in $(seq 1 "$QUERY_RUNS"); do
      out=$(curl -sS -G -o "$WORK/query.json" -w '%{http_code} %{time_total}' \
        -H "Authorization: Bearer $ops" "${args[@]}" "http://${ADDR[$1]}/audit")
      times+=("${out#* }")
      if [ "${out% *}" = 200 ]; then
        events=$(jq '.events | length' "$WORK/query.json")
      else
        failed=$((failed + 1)) # a 503 is the request timeout: the query took too long
      fi
    done
    printf '%s\n' "${times[@]}" | jq -s -c --arg server "$1" --arg q "$name" --argjson n "$events" --argjson f "$failed" '
      map(. * 1000) | sort | {server: $server, query: $q, events: $n, failed: $f,
        median_ms: .[(length - 1) / 2 | floor], p90_ms: .[(length * 9 / 10) | floor], max_ms: .[-1]}' >>"$QUERIES"
    jq -r '"  \(.server) \(.query): median \(.median_ms) ms, max \(.max_ms) ms, \(.events) events, \(.failed) failed"' <<<"$(tail -1 "$QUERIES")" >&2
  done
  # The floor under every figure above: the same client on a route with no auth, no store.
  times=()
  for i in $(seq 1 "$QUERY_RUNS"); do
    times+=("$(curl -sS -o /dev/null -w '%{time_total}' "http://${ADDR[$1]}/healthz")")
  done
  printf '%s\n' "${times[@]}" | jq -s -c --arg server "$1" '
    map(. * 1000) | sort | {server: $server, query: "GET /healthz (floor)", events: 0, failed: 0,
      median_ms: .[(length - 1) / 2 | floor], p90_ms: .[(length * 9 / 10) | floor], max_ms: .[-1]}' >>"$QUERIES"
}
print_queries() {
  [ -s "$QUERIES" ] || return 0
  echo
  echo "audit queries on the full logs, through GET /audit ($QUERY_RUNS runs each, curl time_total):"
  printf '%-15s %-28s %9s %9s %9s %7s %7s\n' server query median_ms p90_ms max_ms events failed
  jq -r '[.server, .query, .median_ms, .p90_ms, .max_ms, .events, .failed] | @tsv' "$QUERIES" \
    | awk -F'\t' '{printf "%-15s %-28s %9.2f %9.2f %9.2f %7d %7d\n", $1, $2, $3, $4, $5, $6, $7}'
}
if [ "$QUERIES_ONLY" = 1 ]; then
  [ -n "$FILLED_SQLITE" ] && measure_queries sqlite-full
  [ -n "$FILLED_PG" ] && measure_queries postgres-full
  echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  print_queries
  exit 0
fi

# ---------------------------------------------------------------- scenarios
# name | server | request file | what it is
SCENARIOS=(
  "ceiling|ceiling|presign-hs|bare axum: HS256 verify + SDK presign, nothing else"
  "healthz|sqlite|healthz|presignd GET /healthz (no auth, no audit)"
  "presignd-sqlite|sqlite|presign-hs|presignd GET URL, HS256, 51-stmt policy, SQLite audit"
  "presignd-sqlite-rs256|sqlite|presign-rs|as above with RS256 tokens"
)
SCENARIOS+=(
  "sqlite-batch100|sqlite-batch|batch-100|presignd POST /presign/batch, 100 GET items, SQLite audit"
  "sqlite-batch1000|sqlite-batch|batch-1000|presignd POST /presign/batch, 1000 GET items, SQLite audit"
  "sqlite-link|sqlite|links-sqlite|presignd GET /l/{token} (302), unlimited link, SQLite audit"
)
[ "$POSTGRES" = 1 ] && SCENARIOS+=(
  "presignd-postgres|postgres|presign-hs|presignd GET URL, HS256, 51-stmt policy, PostgreSQL audit"
  "postgres-batch100|postgres|batch-100|presignd POST /presign/batch, 100 GET items, PostgreSQL audit"
  "postgres-link|postgres|links-postgres|presignd GET /l/{token} (302), unlimited link, PostgreSQL audit"
)
[ -n "$FILLED_SQLITE" ] && SCENARIOS+=("sqlite-full|sqlite-full|presign-hs|as presignd-sqlite, on a copy of $(basename "$FILLED_SQLITE")")
[ -n "$FILLED_PG" ] && SCENARIOS+=("postgres-full|postgres-full|presign-hs|as presignd-postgres, on a copy of database $FILLED_PG")
[ "$COMPANION" = 1 ] && SCENARIOS+=("companion|companion|companion|Uppy Companion GET /s3/params (presigned POST, no auth, no audit)")

RESULTS=$WORK/results.jsonl
: >"$RESULTS"
run_wrk() { # SCENARIO SERVER FILE DURATION ROUND
  local out line
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${4}s" --timeout 5s -s "$BENCH/requests.lua" \
    "http://${ADDR[$2]}" -- "$WORK/$3.tsv" 2>&1) || die "wrk failed for $1: $out"
  line=$(grep '^BENCH ' <<<"$out" | sed 's/^BENCH //') || die "no summary from wrk for $1: $out"
  jq -c --arg s "$1" --arg r "$5" --arg load "$(cut -d' ' -f1 /proc/loadavg)" \
    '. + {scenario: $s, round: ($r|tonumber), load1: ($load|tonumber)}' <<<"$line" >>"$RESULTS"
  jq -r '"  \(.scenario) round \(.round): \(.rps) req/s, p99 \(.p99_ms) ms, errors \(.non_2xx + .socket_errors), load \(.load1)"' <<<"$(tail -1 "$RESULTS")" >&2
}

LOAD_BEFORE=$(cat /proc/loadavg)
log "load before: $LOAD_BEFORE"
log "warm-up: 2 s per scenario"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name server file _ <<<"$s"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$BENCH/requests.lua" "http://${ADDR[$server]}" -- "$WORK/$file.tsv" >/dev/null 2>&1
done
for round in $(seq 1 "$ROUNDS"); do
  log "round $round of $ROUNDS (${DURATION}s per scenario, $THREADS threads, $CONNECTIONS connections)"
  for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r name server file _ <<<"$s"
    run_wrk "$name" "$server" "$file" "$DURATION" "$round"
  done
done

# Latency at half the maximum rate, with the open-loop client.
median_rps() { jq -s --arg s "$1" '[.[] | select(.scenario == $s) | .rps] | sort | .[(length - 1) / 2 | floor]' "$RESULTS"; }
HALF=$WORK/half.jsonl
: >"$HALF"
half_rate() { # NAME SERVER RATE
  log "half rate: $1 at $3 req/s for ${DURATION}s"
  "$RATE" --addr "${ADDR[$2]}" --requests "$WORK/presign-hs.tsv" --rate "$3" \
    --duration "$DURATION" --connections "$CONNECTIONS" \
    | jq -c --arg s "$1" --arg load "$(cut -d' ' -f1 /proc/loadavg)" '. + {scenario: $s, load1: ($load|tonumber)}' >>"$HALF"
  jq -r '"  \(.scenario): \(.achieved_rate) req/s achieved, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, errors \(.non_2xx + .socket_errors)"' <<<"$(tail -1 "$HALF")" >&2
}
for name in ceiling presignd-sqlite presignd-postgres sqlite-full postgres-full; do
  case "$name" in
    ceiling) server=ceiling ;;
    presignd-sqlite) server=sqlite ;;
    presignd-postgres) [ "$POSTGRES" = 1 ] || continue; server=postgres ;;
    sqlite-full) [ -n "$FILLED_SQLITE" ] || continue; server=sqlite-full ;;
    postgres-full) [ -n "$FILLED_PG" ] || continue; server=postgres-full ;;
  esac
  half_rate "$name" "$server" "$(jq -n --argjson m "$(median_rps "$name")" '$m / 2 | floor')"
done

# A retention sweep on a full log: a server started on another copy with a retention that
# leaves out the older rows sweeps them at startup; half-rate latency meanwhile.
sweep() { # NAME DATABASE_URL FULL_SCENARIO
  start_presignd "$1" "$2" "$SWEEP_DAYS"
  half_rate "$1" "$1" "$(jq -n --argjson m "$(median_rps "$3")" '$m / 2 | floor')"
}
if [ "$SWEEP_DAYS" -gt 0 ]; then
  if [ -n "$FILLED_SQLITE" ]; then
    cp "$FILLED_SQLITE" "$WORK/sweep.db"
    sync "$WORK/sweep.db"
    sweep sqlite-sweep "sqlite://$WORK/sweep.db" sqlite-full
    SWEPT_ROWS_SQLITE=$(sqlite3 "$WORK/sweep.db" 'SELECT count(*) FROM audit_events' 2>/dev/null || echo "?")
  fi
  if [ -n "$FILLED_PG" ]; then
    db=$(copy_pg "$FILLED_PG")
    PG_DBS+=("$db")
    sweep postgres-sweep "$PG_URL_BASE/$db" postgres-full
    SWEPT_ROWS_PG=$(psql "$PG_URL_BASE/$db" -qAtc 'SELECT count(*) FROM audit_events')
  fi
fi

if [ "$QUERIES_ONLY" = 0 ]; then
  [ -n "$FILLED_SQLITE" ] && measure_queries sqlite-full
  [ -n "$FILLED_PG" ] && measure_queries postgres-full
fi

LOAD_AFTER=$(cat /proc/loadavg)
log "load after: $LOAD_AFTER"

# Peak RSS of each server over the whole run (every scenario it served).
declare -A RSS
for server in "${!PID[@]}"; do
  RSS[$server]=$(awk '/^VmHWM:/ {printf "%.1f", $2 / 1024}' "/proc/${PID[$server]}/status" 2>/dev/null || echo "?")
done

# Every issued URL has its row: count them (each wrk request that got a 200 is one row).
AUDIT_SQLITE=$(sqlite3 "$WORK/audit.db" 'SELECT count(*) FROM audit_events' 2>/dev/null || echo "?")
AUDIT_SQLITE_BATCH=$(sqlite3 "$WORK/batch.db" 'SELECT count(*) FROM audit_events' 2>/dev/null || echo "?")
AUDIT_PG="-"
[ "$POSTGRES" = 1 ] && AUDIT_PG=$(psql "$PG_URL_BASE/$PG_DB" -qAtc 'SELECT count(*) FROM audit_events')

# ---------------------------------------------------------------- report
CEILING_RPS=$(median_rps ceiling)
echo
echo "presignd load benchmark — $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(uname -sr)"
echo "load average (1/5/15 min) before: $(cut -d' ' -f1-3 <<<"$LOAD_BEFORE"), after: $(cut -d' ' -f1-3 <<<"$LOAD_AFTER")"
echo "wrk $THREADS threads, $CONNECTIONS connections, ${DURATION}s per scenario, $ROUNDS rounds (medians); loopback"
echo
printf '%-22s %9s %8s %8s %9s %15s %9s %7s\n' scenario req/s p50_ms p99_ms ceiling round_ratios rss_MiB errors
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name server _ _ <<<"$s"
  jq -s -r --arg s "$name" --argjson c "$CEILING_RPS" --arg rss "${RSS[$server]}" '
    def median: sort | .[(length - 1) / 2 | floor];
    [.[] | select(.scenario == $s)] as $mine
    | [.[] | select(.scenario == "ceiling")] as $ceil
    | [range(0; $mine | length) | ($mine[.].rps / $ceil[.].rps * 100 | round / 100)] as $ratios
    | [$s, ($mine | map(.rps) | median | round),
       ($mine | map(.p50_ms) | median), ($mine | map(.p99_ms) | median),
       (($mine | map(.rps) | median) / $c * 100 | round / 100),
       ($ratios | map(tostring) | join("/")), $rss,
       ($mine | map(.non_2xx + .socket_errors) | add)]
    | @tsv' "$RESULTS" \
    | awk -F'\t' '{printf "%-22s %9d %8.2f %8.2f %8.2fx %15s %9s %7d\n", $1, $2, $3, $4, $5, $6, $7, $8}'
done
echo
echo "batches: URLs per second against single POST /presign requests of the same store, same run:"
printf '%-22s %12s %14s %8s\n' scenario urls/s single_urls/s ratio
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name _ _ _ <<<"$s"
  case "$name" in
    sqlite-batch*) single=presignd-sqlite ;;
    postgres-batch*) single=presignd-postgres ;;
    *) continue ;;
  esac
  items=${name##*batch}
  jq -n -r --arg s "$name" --argjson items "$items" --argjson m "$(median_rps "$name")" \
    --argjson one "$(median_rps "$single")" \
    '[$s, ($m * $items | round), ($one | round), ($m * $items / $one * 100 | round / 100)] | @tsv' \
    | awk -F'\t' '{printf "%-22s %12d %14d %7.2fx\n", $1, $2, $3, $4}'
done
if [ -n "$FILLED_SQLITE$FILLED_PG" ]; then
  echo
  echo "full log against the empty one, same run (median req/s; per-round ratios):"
  for pair in "sqlite-full presignd-sqlite" "postgres-full presignd-postgres"; do
    read -r full empty <<<"$pair"
    jq -s -r --arg f "$full" --arg e "$empty" '
      def median: sort | .[(length - 1) / 2 | floor];
      [.[] | select(.scenario == $f)] as $full | [.[] | select(.scenario == $e)] as $empty
      | select(($full | length) > 0 and ($empty | length) > 0)
      | "  \($f): \($full | map(.rps) | median | round) req/s, \(($full | map(.rps) | median) / ($empty | map(.rps) | median) * 100 | round / 100) x \($e) (\([range(0; $full | length) | ($full[.].rps / $empty[.].rps * 100 | round / 100) | tostring] | join("/")))"' "$RESULTS"
  done
fi
echo
echo "share links: redirects/s of GET /l/{token} against POST /presign of the same store, same run (target 0.8x):"
printf '%-22s %12s %14s %8s\n' scenario redirects/s presign/s ratio
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name _ _ _ <<<"$s"
  case "$name" in
    sqlite-link) single=presignd-sqlite ;;
    postgres-link) single=presignd-postgres ;;
    *) continue ;;
  esac
  jq -s -r --arg s "$name" --arg one "$single" '
    def median: sort | .[(length - 1) / 2 | floor];
    [.[] | select(.scenario == $s)] as $mine | [.[] | select(.scenario == $one)] as $base
    | [range(0; $mine | length) | ($mine[.].rps / $base[.].rps * 100 | round / 100)] as $ratios
    | [$s, ($mine | map(.rps) | median | round), ($base | map(.rps) | median | round),
       ($ratios | median), ($ratios | map(tostring) | join("/"))] | @tsv' "$RESULTS" \
    | awk -F'\t' '{printf "%-22s %12d %14d %7.2fx  (per round %s)\n", $1, $2, $3, $4, $5}'
done
echo
echo "latency at half the maximum rate (open loop, from each request's due time):"
printf '%-22s %10s %10s %8s %8s %8s %7s\n' scenario target/s achieved/s p50_ms p99_ms max_ms errors
jq -r '[.scenario, .target_rate, .achieved_rate, .p50_ms, .p99_ms, .max_ms, (.non_2xx + .socket_errors)] | @tsv' "$HALF" \
  | awk -F'\t' '{printf "%-22s %10d %10.0f %8.2f %8.2f %8.2f %7d\n", $1, $2, $3, $4, $5, $6, $7}'
print_queries
if [ "$SWEEP_DAYS" -gt 0 ]; then
  echo
  echo "retention sweep (retention_days = $SWEEP_DAYS, swept from startup): rows left after the half-rate run:"
  echo "  SQLite ${SWEPT_ROWS_SQLITE:--}, PostgreSQL ${SWEPT_ROWS_PG:--}"
fi
echo
echo "audit rows: SQLite $AUDIT_SQLITE (batches: $AUDIT_SQLITE_BATCH), PostgreSQL $AUDIT_PG (one per URL issued, checks included)"
echo "scenarios:"
for s in "${SCENARIOS[@]}"; do
  IFS='|' read -r name _ _ what <<<"$s"
  printf '  %-22s %s\n' "$name" "$what"
done
