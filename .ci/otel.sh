#!/usr/bin/env bash
# The otel feature on the running binary: `presignd dev` built with it exports request
# spans over OTLP/HTTP to a local receiver (a few lines of Python standing in for a
# collector). Fails unless at least one /v1/traces POST arrives.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --features otel --bin presignd
work=$(mktemp -d)
receiver_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

cat > "$work/receiver.py" <<'PY'
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        print(self.path, len(body), flush=True)
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
PY
python3 "$work/receiver.py" "$receiver_port" > "$work/received.log" 2>&1 &
receiver=$!
OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$receiver_port" OTEL_BSP_SCHEDULE_DELAY=200 \
  PRESIGND_SERVER__BIND="127.0.0.1:$api_port" \
  target/debug/presignd dev --data-dir "$work/data" > "$work/dev.out" 2> "$work/dev.err" &
server=$!
trap 'kill $server $receiver 2>/dev/null || true; rm -rf "$work"' EXIT

for _ in $(seq 1 100); do grep -q "Stop with" "$work/dev.out" 2>/dev/null && break; sleep 0.2; done
token=$(sed -n "s/^export TOKEN='\(.*\)'$/\1/p" "$work/dev.out")
status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$api_port/presign" \
  -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
  -d '{"bucket":"dev","key":"alice/otel.txt","method":"GET"}')
[ "$status" = 200 ] || { echo "presign answered $status"; cat "$work/dev.err"; exit 1; }
# SIGINT drains and flushes the exporter before exit.
kill -INT $server
wait $server || true
if grep -q '^/v1/traces ' "$work/received.log"; then
  echo "otel: $(grep -c '^/v1/traces ' "$work/received.log") OTLP trace export(s) received"
else
  echo "otel: no trace reached the receiver"; cat "$work/dev.err"; exit 1
fi
