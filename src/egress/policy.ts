/**
 * Egress policy: which host:port a sandbox may reach through its proxy. Pure functions, no I/O: the
 * proxy calls `decide()` for every request, and the spec validates patterns with `parseRule()`.
 */
export interface EgressRule {
  /** As written: 'api.anthropic.com', '*.github.com:443', '10.0.0.5:8080'. */
  source: string;
  /** Exact host, or a suffix when `wildcard` ('github.com' for '*.github.com'). */
  host: string;
  wildcard: boolean;
  /** Allowed ports; undefined: 80 and 443. */
  ports?: number[];
  /** The preset or 'user' the rule came from, named in denials and the audit. */
  origin: string;
}

export interface EgressDecision {
  allowed: boolean;
  /** The rule that allowed it, or why it was denied. */
  rule: string;
}

export const DEFAULT_PORTS = [80, 443];

/** Named allowlists. Agents' presets cover what their CLIs call; add more per sandbox. */
export const PRESETS: Record<string, string[]> = {
  claude: ['api.anthropic.com'],
  gemini: ['generativelanguage.googleapis.com', 'oauth2.googleapis.com'],
  codex: ['api.openai.com', 'chatgpt.com'],
  github: ['github.com', '*.github.com', '*.githubusercontent.com'],
  npm: ['registry.npmjs.org'],
  pypi: ['pypi.org', 'files.pythonhosted.org'],
};

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;

/** Parse and validate one allowlist pattern; throws an Error that says what is wrong and why. */
export function parseRule(source: string, origin = 'user'): EgressRule {
  const raw = source.trim().toLowerCase();
  const m = /^(.*?)(?::(\d{1,5}))?$/.exec(raw);
  const hostPart = m?.[1] ?? '';
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (port !== undefined && (port < 1 || port > 65535)) throw new Error(`'${source}': port ${port} is out of range (1-65535)`);
  if (hostPart === '' || hostPart === '*') throw new Error(`'${source}' would allow every host; name the hosts the sandbox needs`);
  const wildcard = hostPart.startsWith('*.');
  const host = wildcard ? hostPart.slice(2) : hostPart;
  if (IPV4.test(host)) {
    if (wildcard) throw new Error(`'${source}': a wildcard cannot apply to an IP address`);
  } else {
    const labels = host.split('.');
    if (!labels.every((l) => LABEL.test(l))) throw new Error(`'${source}' is not a host name pattern (letters, digits, -, dots; '*.' only as a prefix)`);
    if (wildcard && labels.length < 2) throw new Error(`'${source}' would allow almost everything under .${host}; use a narrower suffix such as '*.example.${host}'`);
  }
  return { source, host, wildcard, ...(port !== undefined ? { ports: [port] } : {}), origin };
}

/** Rules from presets and user patterns; unknown presets are an error naming the known ones. */
export function buildRules(presets: string[], allow: string[]): EgressRule[] {
  const rules: EgressRule[] = [];
  for (const p of presets) {
    const list = PRESETS[p];
    if (!list) throw new Error(`unknown egress preset '${p}'; known: ${Object.keys(PRESETS).join(', ')}`);
    rules.push(...list.map((s) => parseRule(s, `preset:${p}`)));
  }
  rules.push(...allow.map((s) => parseRule(s, 'user')));
  return rules;
}

function hostMatches(rule: EgressRule, host: string): boolean {
  if (!rule.wildcard) return host === rule.host;
  return host.endsWith(`.${rule.host}`);
}

/** May the sandbox reach host:port? The first matching rule allows; nothing matching denies. */
export function decide(rules: EgressRule[], host: string, port: number): EgressDecision {
  const h = host.toLowerCase().replace(/\.$/, '').replace(/^\[|\]$/g, '');
  for (const r of rules) {
    if (hostMatches(r, h) && (r.ports ?? DEFAULT_PORTS).includes(port)) return { allowed: true, rule: `${r.origin} ${r.source}` };
  }
  const near = rules.find((r) => hostMatches(r, h));
  return {
    allowed: false,
    rule: near ? `port ${port} not allowed for ${near.source} (${near.origin}); allowed ports: ${(near.ports ?? DEFAULT_PORTS).join(', ')}` : `${h} is not in the sandbox's egress allowlist`,
  };
}
