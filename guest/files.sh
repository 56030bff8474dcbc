#!/bin/sh
# Warden's file moves inside a sandbox, run by the guard as the sandbox user (never as root), so
# whatever a path resolves to, even through a link the workload planted a moment ago, the write or read
# can only reach what the workload could reach itself. The checks below are for clear errors; the user
# identity is the guarantee.
#   files.sh x ROOT [CHECK...]          extract the tar on stdin into ROOT
#   files.sh c ROOT TARGET [CHECK...]   write a tar of ROOT/TARGET to stdout (entries named by its base name)
#   files.sh l ROOT TARGET [CHECK...]   list the directory ROOT/TARGET: per entry one NUL-terminated record
#                                       "type<TAB>size<TAB>mtime<TAB>mode<TAB>name" (links not followed)
# A CHECK is a path under ROOT: PATH must not be a symbolic link nor, when it exists, a non-directory
# (a component on the way); =PATH must not be a symbolic link nor a directory (a file to be written);
# ~PATH must not be a symbolic link (what is read).
# Exit 3: refused (a link, a directory, a non-directory on the way); 4: missing; 5: usage.
set -u
op="${1:-}"; root="${2:-}"
if [ -z "$op" ] || [ -z "$root" ]; then echo "usage: files.sh x|c ROOT ..." >&2; exit 5; fi
shift 2
target=""
if [ "$op" = c ] || [ "$op" = l ]; then target="${1:-}"; shift; fi
for c in "$@"; do
  p="${c#[=~]}"
  shown="$root/${target:-$p}"
  if [ -L "$root/$p" ]; then
    echo "path '$shown' refused: $root/$p is a symbolic link (to $(readlink "$root/$p"))" >&2
    exit 3
  fi
  if [ "$c" = "~$p" ]; then
    :
  elif [ "$c" = "=$p" ]; then
    if [ -d "$root/$p" ]; then echo "path '$root/$p' refused: it is a directory" >&2; exit 3; fi
  elif [ -e "$root/$p" ] && [ ! -d "$root/$p" ]; then
    echo "path '$shown' refused: $root/$p is not a directory" >&2
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
  l)
    full="$root/$target"
    [ -z "$target" ] && full="$root"
    if [ ! -d "$full" ]; then echo "$full is not a directory in the sandbox" >&2; exit 4; fi
    exec find "$full" -mindepth 1 -maxdepth 1 -printf '%y\t%s\t%T@\t%m\t%f\0'
    ;;
  *)
    echo "files.sh: unknown operation '$op'" >&2
    exit 5
    ;;
esac
