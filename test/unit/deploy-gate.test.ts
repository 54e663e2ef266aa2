/** The rollout gate: its grammar (units, aliases, errors naming the bad term) and its verdicts against field and lab figures. */
import { describe, expect, it } from 'vitest';
import { checkGateAgainstLab, evaluateGate, parseGate, type Figures } from '../../host/src/fleet/deploy/gate.js';

const field: Figures = { p50: 2, p90: 3, p99: 4, mean: 2.5, rss: 150 };
const lab: Figures = { p50: 1.6, p90: 2, p99: null, mean: 2, rss: 100 };

describe('gate grammar', () => {
  it('parses metric op value unit terms, us to ms, median as p50, spaces and case', () => {
    expect(parseGate(' p99 <= 12ms, rss<200MB ,MEDIAN>=800us, p90<=1.5x ')).toEqual([
      { text: 'p99 <= 12ms', metric: 'p99', op: '<=', limit: 12, relative: false },
      { text: 'rss<200MB', metric: 'rss', op: '<', limit: 200, relative: false },
      { text: 'MEDIAN>=800us', metric: 'p50', op: '>=', limit: 0.8, relative: false },
      { text: 'p90<=1.5x', metric: 'p90', op: '<=', limit: 1.5, relative: true },
    ]);
    expect(parseGate(undefined)).toEqual([]);
    expect(parseGate('  ')).toEqual([]);
  });

  it('names the bad term', () => {
    expect(() => parseGate('p99<=12ms,p42<=3ms')).toThrow(/gate term "p42<=3ms" does not parse/);
    expect(() => parseGate('p99=12ms')).toThrow(/gate term "p99=12ms" does not parse/);
    expect(() => parseGate('p99<=12')).toThrow(/"p99<=12" does not parse/);
    expect(() => parseGate('rss<=12ms')).toThrow(/"rss<=12ms": rss is in MB/);
    expect(() => parseGate('p50<=12MB')).toThrow(/"p50<=12MB": p50 is a latency/);
    expect(() => parseGate('p50<=1ms,,rss<=1MB')).toThrow(/an empty term/);
  });

  it('relative terms need a lab figure of the same metric', () => {
    expect(() => checkGateAgainstLab(parseGate('p90<=1.5x'), null)).toThrow(
      /compares with the lab measurement, but there is none/,
    );
    expect(() => checkGateAgainstLab(parseGate('p99<=2x'), lab)).toThrow(/has no p99 figure/);
    expect(() => checkGateAgainstLab(parseGate('p90<=2x,p99<=9ms'), lab)).not.toThrow();
  });
});

describe('gate verdicts', () => {
  it('holds each agent to absolute limits and to factors of the lab figure, and reports field/lab ratios', () => {
    const ok = evaluateGate(parseGate('p99<=4ms,rss<=150MB,p90<=1.5x'), field, lab);
    expect(ok.pass).toBe(true);
    expect(ok.checks.map((c) => [c.actual, c.limit, c.pass])).toEqual([
      [4, 4, true],
      [150, 150, true],
      [3, 3, true],
    ]);
    expect(ok.vs_lab).toEqual({ p50: 1.25, p90: 1.5, mean: 1.25, rss: 1.5 });

    const bad = evaluateGate(parseGate('p99<4ms,p50<=1.2x,rss>=100MB'), field, lab);
    expect(bad.pass).toBe(false);
    expect(bad.checks.map((c) => c.pass)).toEqual([false, false, true]);
    expect(bad.checks[0]!.why).toMatch(/p99 4\.0000 ms fails < 4\.0000 ms/);
    expect(bad.checks[1]!.why).toMatch(/p50 2\.0000 ms fails <= 1\.9200 ms \(1\.2× lab\)/);
  });

  it('no terms: passes (install, load and measurement already succeeded)', () => {
    expect(evaluateGate([], field, null)).toMatchObject({ pass: true, checks: [] });
  });
});
