#!/usr/bin/env bash
# Installs what `make run` needs when it is missing: curl, for the requests the gateway example
# prints to try it. (`make test` needs only cargo; bench/run.sh installs its own tools.)
set -euo pipefail

need_apt=()
command -v curl >/dev/null 2>&1 || need_apt+=(curl)

if [ "${#need_apt[@]}" -eq 0 ]; then
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-run-deps: missing ${need_apt[*]} and no apt-get; install them by hand" >&2
    exit 1
fi

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi

echo "install-run-deps: installing ${need_apt[*]}" >&2
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq "${need_apt[@]}"
