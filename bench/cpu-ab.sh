#!/bin/bash
# CPU per request of presignd binaries side by side: each server's utime+stime over a wrk
# run divided by the requests it answered, three rounds alternating. Less sensitive to a
# noisy machine than req/s. Needs a `bench/run.sh --serve` running (its config and requests).
#   bench/cpu-ab.sh NAME BINARY LOG_LEVEL [NAME BINARY LOG_LEVEL ...]
#   e.g. bench/cpu-ab.sh old /tmp/presignd-old info new target/release/presignd info \
#          quiet target/release/presignd warn,presignd::cli=info
# (a level must keep presignd::cli at info: the address is read from its "listening" line.)
set -u
W=$(ls -d /tmp/presignd-bench.* | tail -1)
cd "$(dirname "$0")/.."
export AWS_ACCESS_KEY_ID=AKIDBENCHEXAMPLE AWS_SECRET_ACCESS_KEY=$(openssl rand -hex 20) AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export PRESIGND_RATE_LIMIT__PER_SUBJECT_PER_SECOND=0 PRESIGND_RATE_LIMIT__PER_IP_PER_SECOND=0
start() { # NAME BINARY LEVEL
  rm -f $W/$1.db*
  PRESIGND_LOG__LEVEL=$3 PRESIGND_AUDIT__DATABASE_URL=sqlite://$W/$1.db $2 --config $W/presignd.toml serve > $W/$1.log 2>&1 &
  echo $! > $W/$1.pid
}
NAMES=()
while [ $# -ge 3 ]; do start "$1" "$2" "$3"; NAMES+=("$1"); shift 3; done
sleep 3
declare -A A
for n in "${NAMES[@]}"; do A[$n]=$(grep -ohE '"address":"127\.0\.0\.1:[0-9]+"' $W/$n.log | grep -oE '127\.0\.0\.1:[0-9]+' | head -1); done
cpu() { awk '{print $14+$15}' /proc/$1/stat; }
for n in "${NAMES[@]}"; do wrk -t2 -c64 -d2s -s bench/requests.lua http://${A[$n]} -- $W/presign-hs.tsv >/dev/null 2>&1; done
for round in 1 2 3; do
  for n in "${NAMES[@]}"; do
    p=$(cat $W/$n.pid); before=$(cpu $p)
    out=$(wrk -t2 -c64 -d10s -s bench/requests.lua http://${A[$n]} -- $W/presign-hs.tsv 2>&1 | grep BENCH)
    after=$(cpu $p); req=$(echo "$out" | sed -E 's/.*"requests":([0-9]+).*/\1/'); rps=$(echo "$out" | sed -E 's/.*"rps":([0-9.]+).*/\1/')
    echo "round $round $n: rps $rps, cpu_us_per_req $(echo "($after - $before) * 10000 / $req" | bc -l | cut -c1-6)"
  done
done
for n in "${NAMES[@]}"; do kill $(cat $W/$n.pid); done
