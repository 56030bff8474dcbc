#!/bin/sh
# Warden sandbox health: the workspace is mounted and writable space is below its threshold.
# Exit 0 healthy, 1 unhealthy (the reason on stdout, kept by the engine in the health log).
THRESHOLD="${WARDEN_DISK_THRESHOLD:-90}"
fail=0
for dir in /workspace /tmp; do
  if [ ! -d "$dir" ]; then echo "$dir missing"; fail=1; continue; fi
  used=$(df -P "$dir" 2>/dev/null | awk 'NR==2 { gsub("%", "", $5); print $5 }')
  if [ -n "$used" ] && [ "$used" -ge "$THRESHOLD" ]; then echo "$dir ${used}% full (threshold ${THRESHOLD}%)"; fail=1; fi
done
for cli in ${WARDEN_EXPECTED_CLIS:-}; do
  command -v "$cli" >/dev/null 2>&1 || { echo "expected CLI '$cli' missing"; fail=1; }
done
[ "$fail" = 0 ] && echo ok
exit "$fail"
