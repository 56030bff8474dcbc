#!/bin/sh
# Warden's file moves inside a sandbox, run by the guard as the sandbox user (never as root), so
# whatever a path resolves to, even through a link the workload planted a moment ago, the write or read
# can only reach what the workload could reach itself. The link checks below are for clear errors;
# the user identity is the guarantee.
#   files.sh x ROOT [COMPONENT...]          extract the tar on stdin into ROOT
#   files.sh c ROOT TARGET [COMPONENT...]   write a tar of ROOT/TARGET to stdout (entries named by its base name)
# COMPONENTs are paths under ROOT that must not be symbolic links. Exit 3: a link; 4: missing; 5: usage.
set -u
op="${1:-}"; root="${2:-}"
if [ -z "$op" ] || [ -z "$root" ]; then echo "usage: files.sh x|c ROOT ..." >&2; exit 5; fi
shift 2
target=""
if [ "$op" = c ]; then target="${1:-}"; shift; fi
for p in "$@"; do
  if [ -L "$root/$p" ]; then
    echo "path '$root/$target' refused: $root/$p is a symbolic link (to $(readlink "$root/$p"))" >&2
    exit 3
  fi
done
case "$op" in
  x)
    # GNU tar as a non-root user: files become the user's, modes are masked by the umask
    exec tar -x --no-same-owner -C "$root" -f -
    ;;
  c)
    full="$root/$target"
    if [ -n "$target" ] && [ ! -e "$full" ] && [ ! -L "$full" ]; then
      echo "$full does not exist in the sandbox" >&2
      exit 4
    fi
    [ -z "$target" ] && full="$root"
    # hard links inside the tree stay hard links (tar writes link entries)
    exec tar -c -C "${full%/*}/" -f - "${full##*/}"
    ;;
  *)
    echo "files.sh: unknown operation '$op'" >&2
    exit 5
    ;;
esac
