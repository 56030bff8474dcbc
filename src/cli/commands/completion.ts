import type { Command } from 'commander';
import { WardenError } from '../../errors.js';

interface Spec {
  name: string;
  description: string;
  options: Array<{ flags: string[]; description: string; takesValue: boolean }>;
  subcommands: Spec[];
}

/** The command tree as commander knows it (so completion never drifts from the real commands). */
function specOf(cmd: Command): Spec {
  return {
    name: cmd.name(),
    description: cmd.description(),
    options: cmd.options
      .filter((o) => !o.hidden)
      .map((o) => ({ flags: [o.short, o.long].filter((x): x is string => Boolean(x)), description: o.description, takesValue: o.required || o.optional })),
    subcommands: cmd.commands.filter((c) => !(c as Command & { _hidden?: boolean })._hidden).map(specOf),
  };
}

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(root: Spec): string {
  const cases = root.subcommands
    .map((c) => {
      const words = [...c.subcommands.map((s) => s.name), ...c.options.flatMap((o) => o.flags), '--help'].join(' ');
      return `    ${c.name}) words=${q(words)} ;;`;
    })
    .join('\n');
  return `# bash completion for warden (warden completion bash > /etc/bash_completion.d/warden, or: source <(warden completion bash))
_warden() {
  local cur cmd words i
  cur="\${COMP_WORDS[COMP_CWORD]}"
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in -*) ;; *) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [ -z "$cmd" ]; then
    COMPREPLY=($(compgen -W ${q([...root.subcommands.map((c) => c.name), '--help', '--version'].join(' '))} -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
    *) words="--help" ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  [ \${#COMPREPLY[@]} -eq 0 ] && COMPREPLY=($(compgen -f -- "$cur"))
}
complete -o default -F _warden warden
`;
}

function zsh(root: Spec): string {
  const desc = (s: string): string => s.replace(/[:\\]/g, '\\$&').replace(/'/g, `'\\''`).replace(/\[/g, '(').replace(/]/g, ')');
  const cmds = root.subcommands.map((c) => `    '${c.name}:${desc(c.description).slice(0, 120)}'`).join('\n');
  const perCmd = root.subcommands
    .map((c) => {
      const opts = c.options.map((o) => (o.flags.length > 1 ? `'(${o.flags.join(' ')})'{${o.flags.join(',')}}'[${desc(o.description)}]${o.takesValue ? ':value:' : ''}'` : `'${o.flags[0]}[${desc(o.description)}]${o.takesValue ? ':value:' : ''}'`));
      const subs = c.subcommands.length ? [`'1:subcommand:(${c.subcommands.map((s) => s.name).join(' ')})'`] : [];
      return `    ${c.name}) _arguments ${[...opts, ...subs, "'*:file:_files'"].join(' ')} ;;`;
    })
    .join('\n');
  return `#compdef warden
# zsh completion for warden (warden completion zsh > "\${fpath[1]}/_warden", then restart zsh)
_warden() {
  local -a commands
  commands=(
${cmds}
  )
  if (( CURRENT == 2 )); then
    _describe 'command' commands
    return
  fi
  case "$words[2]" in
${perCmd}
  esac
}
compdef _warden warden
`;
}

function fish(root: Spec): string {
  const lines = ['# fish completion for warden (warden completion fish > ~/.config/fish/completions/warden.fish)', 'complete -c warden -f'];
  const top = root.subcommands.map((c) => c.name).join(' ');
  for (const c of root.subcommands) {
    lines.push(`complete -c warden -n "not __fish_seen_subcommand_from ${top}" -a ${c.name} -d ${q(c.description.slice(0, 100))}`);
    for (const s of c.subcommands) lines.push(`complete -c warden -n "__fish_seen_subcommand_from ${c.name}" -a ${s.name} -d ${q(s.description.slice(0, 100))}`);
    for (const o of c.options) {
      const short = o.flags.find((f) => /^-[^-]/.test(f));
      const long = o.flags.find((f) => f.startsWith('--'));
      lines.push(`complete -c warden -n "__fish_seen_subcommand_from ${c.name}"${short ? ` -s ${short.slice(1)}` : ''}${long ? ` -l ${long.slice(2)}` : ''}${o.takesValue ? ' -r' : ''} -d ${q(o.description.slice(0, 100))}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** `warden completion bash|zsh|fish`: a completion script generated from the command tree. */
export function registerCompletion(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script: bash, zsh or fish (e.g. source <(warden completion bash))')
    .argument('<shell>', 'bash | zsh | fish')
    .action((shell: string) => {
      const root = specOf(program);
      const gen = { bash, zsh, fish }[shell];
      if (!gen) throw new WardenError('INVALID_ARGUMENT', `no completion for '${shell}'; choose bash, zsh or fish`);
      process.stdout.write(gen(root));
    });
}
