/**
 * Who gets a deployment, and in what order: the selector (`tag:T`, `agent:NAME`, comma-separated for a
 * union) picks agents from the registry; a canary set (a percentage or a count, taken from online agents
 * first) goes first, then the rest in `waves` near-equal waves. Pure functions on plain data.
 */

export interface SelectorTerm {
  kind: 'tag' | 'agent';
  value: string;
}

export interface PlannableAgent {
  id: string;
  name: string;
  tags: string[];
  online: boolean;
}

export interface Stage {
  name: string;
  agents: string[];
}

export class PlanError extends Error {
  override name = 'PlanError';
}

const LABEL = /^[A-Za-z0-9._:@-]{1,128}$/;

export function parseSelector(text: string | undefined): SelectorTerm[] {
  if (!text || !text.trim()) throw new PlanError('no target: give --to tag:T or --to agent:NAME');
  return text.split(',').map((raw) => {
    const term = raw.trim();
    const m = /^(tag|agent):(.+)$/.exec(term);
    if (!m || !LABEL.test(m[2]!))
      throw new PlanError(
        `target "${term}" is not tag:T or agent:NAME (names and tags are letters, digits, . _ - : @)`,
      );
    return { kind: m[1] as 'tag' | 'agent', value: m[2]! };
  });
}

export function selectorText(terms: SelectorTerm[]): string {
  return terms.map((t) => `${t.kind}:${t.value}`).join(',');
}

/** The agents a selector names, in name order; an empty selection is an error that lists who is known. */
export function selectAgents<A extends PlannableAgent>(terms: SelectorTerm[], agents: A[]): A[] {
  const picked = agents.filter((a) =>
    terms.some((t) => (t.kind === 'tag' ? a.tags.includes(t.value) : a.name === t.value || a.id === t.value)),
  );
  if (!picked.length) {
    const known =
      agents.map((a) => `${a.name}[${a.tags.join(',')}]${a.online ? '' : ' (offline)'}`).join(', ') || 'none';
    throw new PlanError(`${selectorText(terms)} matches no known agent (known: ${known})`);
  }
  return [...picked].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : 1));
}

export type Canary = { percent: number } | { count: number };

export function parseCanary(text: string | undefined): Canary {
  const t = (text ?? '10%').trim();
  const pct = /^([0-9]*\.?[0-9]+)\s*%$/.exec(t);
  if (pct) {
    const percent = Number(pct[1]);
    if (!(percent >= 0 && percent <= 100)) throw new PlanError(`--canary ${t}: a percentage must be in 0–100 %`);
    return { percent };
  }
  if (/^[0-9]+$/.test(t)) return { count: Number(t) };
  throw new PlanError(`--canary "${t}" is neither a percentage (10%) nor a number of agents (2)`);
}

export function parseWaves(value: string | number | undefined): number {
  const n = Number(value ?? 1);
  if (!Number.isInteger(n) || n < 1 || n > 100)
    throw new PlanError(`--waves must be an integer in 1–100, got "${String(value)}"`);
  return n;
}

/** Canary first (online agents preferred), then the rest split into `waves` waves, larger ones first; empty stages dropped. */
export function planStages(agents: PlannableAgent[], canary: Canary, waves: number): Stage[] {
  const n = agents.length;
  const canaryCount =
    'percent' in canary ? Math.min(n, Math.ceil((n * canary.percent) / 100 - 1e-9)) : Math.min(n, canary.count);
  const ordered = [...agents.filter((a) => a.online), ...agents.filter((a) => !a.online)];
  const stages: Stage[] = [];
  if (canaryCount > 0) stages.push({ name: 'canary', agents: ordered.slice(0, canaryCount).map((a) => a.id) });
  const rest = ordered.slice(canaryCount);
  const k = Math.min(waves, rest.length);
  let start = 0;
  for (let w = 0; w < k; w++) {
    const size = Math.floor(rest.length / k) + (w < rest.length % k ? 1 : 0);
    stages.push({ name: `wave ${w + 1}`, agents: rest.slice(start, start + size).map((a) => a.id) });
    start += size;
  }
  return stages;
}
