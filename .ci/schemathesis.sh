#!/usr/bin/env bash
# Fuzzes the running service against the spec it serves: schemathesis (from PyPI) sends
# generated valid and invalid requests to every operation of /openapi.yaml, with a
# `presignd dev` token, and fails on any 5xx or any response the spec does not describe
# (status, content type, headers, body schema), on an invalid request that is accepted, and
# on a protected route that answers without the token. Bounded: SCHEMATHESIS_MAX_EXAMPLES
# (default 100) per operation and phase, well under a minute once built and installed;
# SCHEMATHESIS_SEED replays a run. The JUnit report and the server log go to
# target/schemathesis-report/.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
VENV=target/schemathesis-venv
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-100}
REPORT_DIR=target/schemathesis-report

echo "== schemathesis $SCHEMATHESIS_VERSION (venv under $VENV)"
if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

echo "== build presignd"
cargo build --locked --bin presignd

rm -rf "$REPORT_DIR"
work=$(mktemp -d)
server=""
stop_server() {
  if [[ -n "$server" ]] && kill -0 "$server" 2>/dev/null; then
    kill -TERM "$server"
    wait "$server" || true
  fi
  mkdir -p "$REPORT_DIR"
  cp "$work/dev.log" "$REPORT_DIR/presignd.log" 2>/dev/null || true
  rm -rf "$work"
}
trap stop_server EXIT

# `dev` binds server.bind; the kernel picks a free port for us, then presignd takes it.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
echo "== presignd dev on $base (data in $work)"
# Rate limits off: schemathesis sends far faster than the default 200/s per address, and a
# 429 would stand in for the answer under test (a missing token must be a 401, not a 429).
# The limiters have their own tests (tests/it/ops.rs).
NO_COLOR=1 PRESIGND_SERVER__BIND="127.0.0.1:$port" \
  PRESIGND_RATE_LIMIT__PER_IP_PER_SECOND=0 PRESIGND_RATE_LIMIT__PER_SUBJECT_PER_SECOND=0 \
  target/debug/presignd dev --data-dir "$work/data" \
  >"$work/dev.out" 2>"$work/dev.log" &
server=$!

# The token line appears once the listener is bound: no sleeping on a guess.
token=""
for _ in $(seq 1 300); do
  token=$(sed -n "s/^export TOKEN='\(.*\)'\$/\1/p" "$work/dev.out")
  [[ -n "$token" ]] && break
  if ! kill -0 "$server" 2>/dev/null; then
    echo "presignd dev exited before serving:" >&2
    cat "$work/dev.log" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ -z "$token" ]]; then
  echo "presignd dev printed no token within 30 s" >&2
  exit 1
fi

echo "== schemathesis run ($MAX_EXAMPLES examples per operation and phase)"
# Checks left out: positive_data_acceptance (a valid body is still refused by the policy
# or by rules a schema cannot say, such as S3's reserved bucket names: 403/400 are
# documented answers), and the stateful ones (use_after_free, ensure_resource_availability,
# object_level_authorization), which need resources to create and delete.
seed_args=()
[[ -n "${SCHEMATHESIS_SEED:-}" ]] && seed_args=(--seed "$SCHEMATHESIS_SEED")
status=0
# Run from the report folder: schemathesis keeps a crash cache (.schemathesis/) in its
# working directory, which must stay out of the source tree.
mkdir -p "$REPORT_DIR"
root=$PWD
(cd "$REPORT_DIR" && "$root/$VENV/bin/schemathesis" run "$base/openapi.yaml" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks all \
  --exclude-checks positive_data_acceptance,use_after_free,ensure_resource_availability,object_level_authorization \
  --phases examples,coverage,fuzzing \
  --max-examples "$MAX_EXAMPLES" \
  --request-timeout 10 \
  --generation-database none \
  --no-color \
  --report junit --report-dir . \
  "${seed_args[@]}") || status=$?

if [[ $status -ne 0 ]]; then
  echo "== schemathesis failed (exit $status); the last lines of the server log:" >&2
  tail -n 40 "$work/dev.log" >&2
fi
exit "$status"
