/** Who gets a deployment and in what order: selectors, canary sizes, waves. */
import { describe, expect, it } from 'vitest';
import {
  parseCanary,
  parseSelector,
  parseWaves,
  planStages,
  selectAgents,
  type PlannableAgent,
} from '../../host/src/fleet/deploy/plan.js';

const fleet: PlannableAgent[] = [
  { id: 'id-e', name: 'e', tags: ['pi4'], online: true },
  { id: 'id-a', name: 'a', tags: ['pi4', 'lab'], online: false },
  { id: 'id-c', name: 'c', tags: ['jetson'], online: true },
  { id: 'id-b', name: 'b', tags: ['pi4'], online: true },
  { id: 'id-d', name: 'd', tags: ['pi4'], online: true },
];

describe('selector', () => {
  it('parses tag:T and agent:NAME terms, comma-separated', () => {
    expect(parseSelector('tag:pi4, agent:c')).toEqual([
      { kind: 'tag', value: 'pi4' },
      { kind: 'agent', value: 'c' },
    ]);
    expect(() => parseSelector('pi4')).toThrow(/target "pi4" is not tag:T or agent:NAME/);
    expect(() => parseSelector('tag:')).toThrow(/target "tag:" is not/);
    expect(() => parseSelector('')).toThrow(/no target/);
  });

  it('selects by tag, name or id, in name order; an empty selection lists who is known', () => {
    expect(selectAgents(parseSelector('tag:pi4'), fleet).map((a) => a.name)).toEqual(['a', 'b', 'd', 'e']);
    expect(selectAgents(parseSelector('agent:c,agent:id-b,tag:lab'), fleet).map((a) => a.name)).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(() => selectAgents(parseSelector('tag:nope'), fleet)).toThrow(
      /tag:nope matches no known agent \(known: e\[pi4\], a\[pi4,lab\] \(offline\), c\[jetson\]/,
    );
    expect(() => selectAgents(parseSelector('tag:x'), [])).toThrow(/known: none/);
  });
});

describe('stages', () => {
  it('canary as a percentage (rounded up) or a count, from online agents first; the rest in near-equal waves', () => {
    const picked = selectAgents(parseSelector('tag:pi4'), fleet);
    expect(planStages(picked, parseCanary('10%'), 2)).toEqual([
      { name: 'canary', agents: ['id-b'] },
      { name: 'wave 1', agents: ['id-d', 'id-e'] },
      { name: 'wave 2', agents: ['id-a'] },
    ]);
    expect(planStages(picked, parseCanary('2'), 1)).toEqual([
      { name: 'canary', agents: ['id-b', 'id-d'] },
      { name: 'wave 1', agents: ['id-e', 'id-a'] },
    ]);
    expect(planStages(picked, parseCanary('0'), 3).map((s) => s.agents.length)).toEqual([2, 1, 1]);
    // More waves than agents: no empty waves.
    expect(planStages(picked.slice(0, 2), parseCanary('0%'), 5).map((s) => s.name)).toEqual(['wave 1', 'wave 2']);
    expect(planStages(picked, parseCanary('100%'), 3)).toEqual([
      { name: 'canary', agents: ['id-b', 'id-d', 'id-e', 'id-a'] },
    ]);
  });

  it('rejects a bad canary or wave count', () => {
    expect(parseCanary(undefined)).toEqual({ percent: 10 });
    expect(() => parseCanary('150%')).toThrow(/0–100/);
    expect(() => parseCanary('some')).toThrow(/neither a percentage/);
    expect(() => parseWaves('0')).toThrow(/--waves must be an integer in 1–100/);
    expect(() => parseWaves('2.5')).toThrow(/--waves/);
    expect(parseWaves(undefined)).toBe(1);
  });
});
