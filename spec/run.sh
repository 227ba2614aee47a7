#!/bin/sh
# Runs every spec with busted: as the invoking user, and when that is root also as an
# unprivileged user (uid 65534), since every isolation property must hold in both modes.
#
# The unprivileged pass runs from a copy of the built tree in a fresh 0755 directory that uid 65534
# can read, removed afterwards: the clone itself may live where that user cannot enter (a clone in
# /root, or under any 0700 directory), and what is tested is purple, not where it was cloned.
#
# The unprivileged pass gets what a systemd user session has: a cgroup delegated to it (on this
# v1/hybrid layout, a chowned parent in the cpu, memory and pids hierarchies, named in
# PURPLE_CGROUP_PARENT), so its limits are enforced rather than skipped. An unprivileged user
# WITHOUT delegation (limits fail closed) is tested by `make check-vm`'s third pass.
# Usage: spec/run.sh [busted args...]   (e.g. spec/run.sh spec/core_spec.lua)
set -u
cd "$(dirname "$0")/.." || exit 125
BUSTED="lua5.4 /usr/bin/busted"
status=0
echo "== specs as $(id -un) (uid $(id -u)) in $(pwd)"
$BUSTED -o utfTerminal "$@" || status=1
if [ "$(id -u)" = 0 ] && [ -z "${PURPLE_SPEC_ROOT_ONLY:-}" ]; then
  home=$(mktemp -d "${TMPDIR:-/tmp}/purple-spec-home.XXXXXX") || exit 125
  chown 65534:65534 "$home"
  # The copy: the whole work tree but .git (a file in a git worktree) and the precompiled Lua, whose
  # chunks name the clone's paths (the copy loads its modules from source); timestamps kept so that
  # make sees it built; readable by everyone whatever the clone's umask was; owned by root as the tree is.
  tree=$(mktemp -d "${TMPDIR:-/tmp}/purple-spec-tree.XXXXXX") || exit 125
  chmod 0755 "$tree"
  if ! tar -C . --exclude=./.git --exclude=./build/luac -cf - . | tar -C "$tree" -xpf - || ! chmod -R a+rX "$tree"; then
    echo "spec/run.sh: could not copy the tree to $tree"; rm -rf "$tree" "$home"; exit 125
  fi
  deleg="" parent=""
  if [ -f /sys/fs/cgroup/memory/cgroup.procs ] && [ -f /sys/fs/cgroup/pids/cgroup.procs ] \
     && [ -f /sys/fs/cgroup/cpu/cgroup.procs ]; then
    parent=/purple-spec-nobody-$$
    for h in cpu memory pids; do
      d=/sys/fs/cgroup/$h$parent
      mkdir "$d" && chown 65534:65534 "$d" "$d/cgroup.procs" && deleg="$deleg $d"
    done
  fi
  echo "== specs as nobody (uid 65534, no capabilities${parent:+, cgroup $parent delegated}) in $tree"
  (cd "$tree" && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --reset-env \
    env HOME="$home" PATH=/usr/local/bin:/usr/bin:/bin PURPLE_SPEC_UNPRIVILEGED=1 \
    ${parent:+PURPLE_CGROUP_PARENT=$parent} \
    ${ASAN_OPTIONS:+ASAN_OPTIONS=$ASAN_OPTIONS} ${UBSAN_OPTIONS:+UBSAN_OPTIONS=$UBSAN_OPTIONS} \
    $BUSTED -o utfTerminal "$@") || status=1
  for d in $deleg; do
    for s in "$d"/*/; do [ -d "$s" ] && rmdir "$s" 2>/dev/null; done
    rmdir "$d" || { echo "spec/run.sh: could not remove $d"; status=1; }
  done
  rm -rf "$home" "$tree"
fi
exit $status
