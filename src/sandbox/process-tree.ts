/**
 * Killing what an exec started. Aborting an exec's HTTP request does not stop the process inside, and
 * the engine has no "kill exec" call, so Warden marks every exec with `WARDEN_EXEC_ID` in its
 * environment and signals, from a second exec running as the same user, every process that carries
 * the mark and every process group such a process leads or belongs to. This catches children,
 * grandchildren and `setsid`/`nohup`/double-forked escapees (they keep their environment); a process
 * that wipes its environment *and* leaves the group is caught only by stopping the sandbox.
 */
export const EXEC_MARK = 'WARDEN_EXEC_ID';

/**
 * POSIX sh; `$1` signal name, `$2` exec id. Prints how many processes it signalled. The tree is found
 * first, then frozen (SIGSTOP), signalled and thawed: signalled one by one, a parent could see its
 * children die and exit normally before its own signal arrives (bash's `wait` returns 0).
 */
const KILL_TREE_SCRIPT = `
sig="$1"; mark="${EXEC_MARK}=$2"; pids=""; groups=" "
for d in /proc/[0-9]*; do
  p="\${d#/proc/}"
  [ "$p" = "$$" ] && continue
  if grep -qsxzF "$mark" "$d/environ" 2>/dev/null; then
    pids="$pids $p"
    st=$(cat "$d/stat" 2>/dev/null) || continue
    set -- \${st##*) }
    case "$groups" in *" $3 "*) ;; *) groups="$groups$3 " ;; esac
  fi
done
[ -z "$pids" ] && { echo 0; exit 0; }
freeze=0; case "$sig" in KILL|STOP|CONT|9) ;; *) freeze=1 ;; esac
[ "$freeze" = 1 ] && kill -s STOP $pids 2>/dev/null
n=0; for p in $pids; do kill -s "$sig" "$p" 2>/dev/null && n=$((n+1)); done
for g in $groups; do [ "$g" -gt 1 ] 2>/dev/null && kill -s "$sig" -- "-$g" 2>/dev/null; done
[ "$freeze" = 1 ] && kill -s CONT $pids 2>/dev/null
echo "$n"
`;

export function killTreeCommand(execId: string, signal: string): string[] {
  return ['/bin/sh', '-c', KILL_TREE_SCRIPT, 'warden-kill', signal.replace(/^SIG/, ''), execId];
}

/**
 * The in-sandbox half of an exec timeout: sleeps, then kills the exec's tree. It holds even if Warden
 * dies meanwhile; Warden removes it when the exec ends first. Marked `<execId>-watch`.
 */
export function deadlineCommand(execId: string, timeoutMs: number): string[] {
  const kill = killTreeCommand(execId, 'KILL');
  return ['/bin/sh', '-c', `sleep "$0"; exec /bin/sh -c "$1" warden-kill KILL "$2"`, String(Math.ceil(timeoutMs / 1000) + 1), kill[2]!, execId];
}

/**
 * Processes of the sandbox's workload: everything but the init (pid 1), the keeper (which runs in the
 * init's session, sid 1) and the calling script with its children. POSIX sh, shared by the scripts below.
 */
const WORKLOAD_LOOP = `
for d in /proc/[0-9]*; do
  p="\${d#/proc/}"
  [ "$p" = 1 ] || [ "$p" = "$me" ] && continue
  st=$(cat "$d/stat" 2>/dev/null) || continue
  set -- \${st##*) }
  [ "$2" = "$me" ] || [ "$4" = 1 ] && continue
  on_proc "$p" "$1"
done`;

/** Send a signal (`$1`) to every workload process this user may signal; prints how many. */
const SIGNAL_ALL_SCRIPT = `
sig="$1"; me="$$"; n=0
on_proc() { kill -s "$sig" "$1" 2>/dev/null && n=$((n+1)); }
${WORKLOAD_LOOP}
echo "$n"
`;

export function signalAllCommand(signal: string): string[] {
  return ['/bin/sh', '-c', SIGNAL_ALL_SCRIPT, 'warden-signal', signal.replace(/^SIG/, '')];
}

/**
 * Graceful stop, run inside the sandbox as a given user: SIGTERM to every workload process that user
 * can signal, then wait up to `$1` tenths of a second until no workload process is left (zombies
 * aside). Exits 0 when clean, 1 when the grace ran out.
 */
const DRAIN_SCRIPT = `
limit="$1"; me="$$"; i=0
on_proc() { kill -s TERM "$1" 2>/dev/null; }
${WORKLOAD_LOOP}
on_proc() { [ "$2" = Z ] || left=$((left+1)); }
while :; do
  left=0
  ${WORKLOAD_LOOP}
  [ "$left" = 0 ] && exit 0
  [ "$i" -ge "$limit" ] && exit 1
  i=$((i+1)); sleep 0.1
done
`;

export function drainCommand(graceMs: number): string[] {
  return ['/bin/sh', '-c', DRAIN_SCRIPT, 'warden-drain', String(Math.max(0, Math.round(graceMs / 100)))];
}
