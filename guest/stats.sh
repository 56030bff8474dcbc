#!/bin/sh
# Resource use of a sandbox from its own cgroup and /proc, one fact per line (parsed by
# src/sandbox/monitor.ts parseStats). Run by the guard as root (it only reads).
cg=/sys/fs/cgroup
rd() { head -n 1 "$1" 2>/dev/null; }
cpu() { v=$(rd $cg/cpuacct/cpuacct.usage); [ -n "$v" ] && { echo "$v"; return; }; v=$(grep '^usage_usec' $cg/cpu.stat 2>/dev/null | cut -d' ' -f2); [ -n "$v" ] && echo $((v*1000)); }
t0=$(date +%s%N); u0=$(cpu); sleep 0.2; t1=$(date +%s%N); u1=$(cpu)
echo "cpu $u0 $t0 $u1 $t1"
echo "quota $(rd $cg/cpu/cpu.cfs_quota_us) $(rd $cg/cpu/cpu.cfs_period_us) $(rd $cg/cpu.max)"
echo "mem $(rd $cg/memory/memory.usage_in_bytes)$(rd $cg/memory.current) $(rd $cg/memory/memory.limit_in_bytes)$(rd $cg/memory.max) $(grep -E '^(total_inactive_file|inactive_file) ' $cg/memory/memory.stat $cg/memory.stat 2>/dev/null | head -n1 | cut -d' ' -f2)"
echo "oom $(grep -E '^oom_kill ' $cg/memory/memory.oom_control $cg/memory.events 2>/dev/null | head -n1 | cut -d' ' -f2)"
echo "pids $(rd $cg/pids/pids.current)$(rd $cg/pids.current) $(rd $cg/pids/pids.max)$(rd $cg/pids.max)"
echo "procs $(find /proc -maxdepth 1 -name "[0-9]*" 2>/dev/null | wc -l)"
awk 'NR>2 && $1 != "lo:" { rx+=$2; tx+=$10 } END { print "net", rx+0, tx+0 }' /proc/net/dev 2>/dev/null
df -Pk /workspace /tmp "$HOME" 2>/dev/null | awk 'NR>1 { print "df", $6, $3, $2 }'
echo "du $(timeout 5 du -sxk /workspace 2>/dev/null | cut -f1)"
