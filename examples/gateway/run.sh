#!/bin/sh
# Runs the mock services in the background and the gateway in the foreground; the mock services
# stop when the gateway does (Ctrl-C). Usage: examples/gateway/run.sh [path/to/pipy]
set -u
here=$(cd "$(dirname "$0")" && pwd)
pipy=$(cd "$(dirname "${1:-target/release/pipy}")" && pwd)/$(basename "${1:-target/release/pipy}")

"$pipy" "$here/mock.js" &
mock=$!
trap 'kill "$mock" 2>/dev/null; wait "$mock" 2>/dev/null' EXIT INT TERM

cat <<'TXT'

Gateway on http://localhost:8000 in front of mock services on 8080, 8081, 8082. Try:

  curl localhost:8000/hi                    # round robin: "Hi, there!" or "You are requesting /hi ..."
  curl localhost:8000/hi localhost:8000/hi  # one connection keeps its target
  curl localhost:8000/echo -d 'hello'       # echo service
  curl localhost:8000/ip/some/path          # path rewritten to /some/path
  curl -i localhost:8000/unknown            # 404 No handler

Ctrl-C stops both.

TXT
"$pipy" "$here/proxy.js"
