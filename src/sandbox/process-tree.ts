/**
 * Killing what an exec started. Aborting an exec's HTTP request does not stop the process inside, and
 * the engine has no "kill exec" call, so Warden marks every exec with `WARDEN_EXEC_ID` in its
 * environment and signals, from a second exec running as the same user, every process that carries
 * the mark and every process group such a process leads or belongs to. This catches children,
 * grandchildren and `setsid`/`nohup`/double-forked escapees (they keep their environment); a process
 * that wipes its environment *and* leaves the group is caught only by stopping the sandbox.
 */
export const EXEC_MARK = 'WARDEN_EXEC_ID';

/** POSIX sh; `$1` signal name, `$2` exec id. Prints how many processes it signalled. */
const KILL_TREE_SCRIPT = `
sig="$1"; mark="${EXEC_MARK}=$2"; n=0; groups=" "
for d in /proc/[0-9]*; do
  p="\${d#/proc/}"
  [ "$p" = "$$" ] && continue
  if grep -qsxzF "$mark" "$d/environ" 2>/dev/null; then
    kill -s "$sig" "$p" 2>/dev/null && n=$((n+1))
    st=$(cat "$d/stat" 2>/dev/null) || continue
    set -- \${st##*) }
    case "$groups" in *" $3 "*) ;; *) groups="$groups$3 " ;; esac
  fi
done
for g in $groups; do [ "$g" -gt 1 ] 2>/dev/null && kill -s "$sig" -- "-$g" 2>/dev/null; done
echo "$n"
`;

export function killTreeCommand(execId: string, signal: string): string[] {
  return ['/bin/sh', '-c', KILL_TREE_SCRIPT, 'warden-kill', signal.replace(/^SIG/, ''), execId];
}

/**
 * Graceful stop, run inside the sandbox as a given user: SIGTERM to every process that user can
 * signal (the keeper ignores it), then wait up to `$1` tenths of a second until none but the init,
 * the keeper and this script are left. Exits 0 when clean, 1 when the grace ran out.
 */
const DRAIN_SCRIPT = `
limit="$1"; me="$$"
kill -s TERM -1 2>/dev/null
i=0
while :; do
  left=0; keeper=""
  for d in /proc/[0-9]*; do
    p="\${d#/proc/}"
    [ "$p" = 1 ] || [ "$p" = "$me" ] && continue
    st=$(cat "$d/stat" 2>/dev/null) || continue
    set -- \${st##*) }
    [ "$2" = "$me" ] && continue
    if [ -z "$keeper" ] && [ "$2" = 1 ] && [ "\${st#*(}" != "\${st#*(sleep)}" ]; then keeper="$p"; continue; fi
    [ "$1" = Z ] && continue
    left=$((left+1))
  done
  [ "$left" = 0 ] && exit 0
  [ "$i" -ge "$limit" ] && exit 1
  i=$((i+1)); sleep 0.1
done
`;

export function drainCommand(graceMs: number): string[] {
  return ['/bin/sh', '-c', DRAIN_SCRIPT, 'warden-drain', String(Math.max(0, Math.round(graceMs / 100)))];
}
