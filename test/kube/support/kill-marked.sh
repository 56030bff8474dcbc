#!/bin/sh
# Test fixture: SIGKILL every process whose environment carries WARDEN_EXEC_ID=$1; prints how many.
# (On Docker the guard's holder does this; the Kubernetes backend will mount the guard the same way.)
mark="WARDEN_EXEC_ID=$1"; n=0
for d in /proc/[0-9]*; do
  p="${d#/proc/}"
  [ "$p" = "$$" ] && continue
  if grep -qsxzF "$mark" "$d/environ" 2>/dev/null; then
    kill -s KILL "$p" 2>/dev/null && n=$((n+1))
  fi
done
echo "$n"
