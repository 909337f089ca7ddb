#!/bin/sh
# Starts a cnnlab kernel: launch.sh <main.js> <connection file> <node> [node options...]
# Node starts from the start-up snapshot of this Node version and cnnlab install (the blob's name
# has the cksum of main.js's path) when there is one (kernel/snapshot.ts builds it in the cache
# folder, ts-code-cache.ts's cacheDir()), else plainly. A snapshot is built without Node options,
# and Node refuses one whose V8 flags differ (exit code 14), so any option, given here or in
# NODE_OPTIONS, means a plain start. exec keeps the process id Jupyter started.
main=$1
connection=$2
node=$3
shift 3
if [ "${CNNLAB_SNAPSHOT:-}" != 0 ] && [ $# -eq 0 ] && [ -z "${NODE_OPTIONS:-}" ]; then
  if [ -n "${CNNLAB_CACHE_DIR:-}" ]; then
    dir=$CNNLAB_CACHE_DIR
  elif [ -n "${XDG_CACHE_HOME:-}" ]; then
    dir=$XDG_CACHE_HOME/cnnlab
  elif [ -n "${HOME:-}" ]; then
    dir=$HOME/.cache/cnnlab
  else
    dir=
  fi
  if [ -n "$dir" ]; then
    sum=$(printf %s "$main" | cksum 2>/dev/null)
    blob="$dir/kernel-$("$node" --version 2>/dev/null)-$(uname -m 2>/dev/null)-${sum%% *}.blob"
    if [ -s "$blob" ]; then
      exec "$node" --snapshot-blob "$blob" "$main" "$connection"
    fi
  fi
fi
exec "$node" "$@" "$main" "$connection"
