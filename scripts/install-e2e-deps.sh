#!/usr/bin/env bash
# Installs the system programs `npm run test:e2e` drives (Debian/Ubuntu, as root):
# nginx, Apache, HAProxy and Caddy (deployment suites), Redis (the Redis broker), Chromium (browser
# suites), FastAPI + uvicorn + websockets (the Python implementation of the protocol).
# `npm test` needs none of them.
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "install-e2e-deps: run as root (sudo $0)" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "install-e2e-deps: needs apt-get (Debian/Ubuntu); elsewhere install: nginx apache2 haproxy caddy redis-server chromium python3 with fastapi, uvicorn, websockets" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  nginx apache2 haproxy caddy redis-server chromium \
  python3-fastapi python3-uvicorn python3-websockets python3-httpx openssl >/dev/null
echo "install-e2e-deps: installed nginx apache2 haproxy caddy redis-server chromium python3-fastapi python3-uvicorn python3-websockets python3-httpx openssl"
