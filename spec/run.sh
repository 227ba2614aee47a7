#!/bin/sh
# Runs every spec with busted: as the invoking user, and when that is root also as an
# unprivileged user (uid 65534), since every isolation property must hold in both modes.
# Usage: spec/run.sh [busted args...]   (e.g. spec/run.sh spec/core_spec.lua)
set -u
cd "$(dirname "$0")/.." || exit 125
BUSTED="lua5.4 /usr/bin/busted"
status=0
echo "== specs as $(id -un) (uid $(id -u))"
$BUSTED -o utfTerminal "$@" || status=1
if [ "$(id -u)" = 0 ] && [ -z "${PURPLE_SPEC_ROOT_ONLY:-}" ]; then
  home=$(mktemp -d /tmp/purple-spec-home.XXXXXX)
  chown 65534:65534 "$home"
  echo "== specs as nobody (uid 65534, no capabilities)"
  setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --reset-env \
    env HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin PURPLE_SPEC_UNPRIVILEGED=1 \
    $BUSTED -o utfTerminal "$@" || status=1
  rm -rf "$home"
fi
exit $status
