#!/bin/sh
# Installs the Debian packages some tests use, when they are missing:
#   postgresql     the results-store tests start their own server from it, on 127.0.0.1 only
#                  (tests/programme/conftest.py);
#   poppler-utils  pdftotext, with which the acceptance-PDF tests read back the text they drew.
# Never fails the test command: without them those checks skip and say why.
need=""
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  need="$need postgresql"
fi
command -v pdftotext >/dev/null 2>&1 || need="$need poppler-utils"
[ -z "$need" ] && exit 0
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "installing$need (Debian packages) for the tests" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need) \
    >/dev/null 2>&1 || echo "could not install$need; the tests that need them will skip" >&2
else
  echo "missing$need and no root apt-get to install them; the tests that need them will skip" >&2
fi
exit 0
