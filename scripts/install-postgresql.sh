#!/bin/sh
# Installs the PostgreSQL server (Debian package) for the results-store tests, when it is not there yet.
# The tests start their own server from these binaries, on 127.0.0.1 only (tests/programme/conftest.py).
# Never fails the test command: without a server the PostgreSQL cases skip and say why.
if command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  exit 0
fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing the PostgreSQL server (Debian package postgresql) for the results-store tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql) \
    >/dev/null 2>&1 || echo "could not install postgresql; the PostgreSQL tests will skip" >&2
else
  echo "no PostgreSQL server and no root apt-get to install it; the PostgreSQL tests will skip" >&2
fi
exit 0
