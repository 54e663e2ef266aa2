/** The deployment messages of the protocol: activate, rollback, model_state, and the hello's model state. */
import { describe, expect, it } from 'vitest';
import {
  PROTOCOL_VERSION,
  encodeMessage,
  parseAgentMessage,
  parseHostMessage,
  type AgentMessage,
  type HostMessage,
} from '@s4op/shared';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const deployed = (sha256: string, deployment_id: string | null) => ({
  sha256,
  deployment_id,
  activated_at: '2026-01-01T00:00:00.000Z',
});
const device = {
  hostname: 'h',
  cpu_model: 'c',
  cores: 4,
  cpu_max_mhz: null,
  cpu_current_mhz: null,
  memory_total_mb: 1,
  os: 'o',
  arch: 'arm64',
  temperature_c: null,
  board_model: null,
};

describe('deployment messages', () => {
  it('round-trip: host activate and rollback, agent model_state, a hello with and without model state', () => {
    const host: HostMessage[] = [
      { type: 'activate', deployment_id: 'dep-1', model: { sha256: A, size: 10, name: 'm.onnx' } },
      { type: 'rollback', deployment_id: 'dep-1' },
    ];
    for (const m of host) expect(parseHostMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
    const agent: AgentMessage[] = [
      {
        type: 'model_state',
        deployment_id: 'dep-1',
        request: 'activate',
        state: { active: deployed(A, 'dep-1'), previous: deployed(B, null) },
        error: null,
      },
      {
        type: 'model_state',
        request: 'rollback',
        state: { active: null, previous: null },
        error: { code: 'load_failed', message: 'no' },
      },
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: 't',
        agent_id: 'x',
        name: 'pi',
        tags: [],
        agent_version: '0.1.0',
        runtimes: [],
        device,
        model_state: { active: deployed(A, 'dep-1'), previous: null },
      },
      {
        type: 'hello',
        protocol: PROTOCOL_VERSION,
        token: 't',
        agent_id: 'x',
        name: 'pi',
        tags: [],
        agent_version: '0.1.0',
        runtimes: [],
        device,
      },
    ];
    for (const m of agent) expect(parseAgentMessage(encodeMessage(m))).toEqual({ ok: true, message: m });
  });

  it('names the bad field', () => {
    const bad = parseHostMessage(
      JSON.stringify({ type: 'activate', deployment_id: 'dep 1', model: { sha256: A, size: 1 } }),
    );
    expect(bad).toMatchObject({ ok: false, error: { code: 'bad_field', field: 'deployment_id' } });
    const state = parseAgentMessage(
      JSON.stringify({
        type: 'model_state',
        request: 'activate',
        state: { active: { sha256: 'x', deployment_id: null, activated_at: 't' }, previous: null },
        error: null,
      }),
    );
    expect(state).toMatchObject({ ok: false, error: { field: 'state.active.sha256' } });
    const code = parseAgentMessage(
      JSON.stringify({
        type: 'model_state',
        request: 'report',
        state: { active: null, previous: null },
        error: { code: 'oops', message: '' },
      }),
    );
    expect(code).toMatchObject({ ok: false, error: { field: 'error.code' } });
  });
});
