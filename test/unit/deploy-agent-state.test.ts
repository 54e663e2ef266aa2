/** The agent's side of a deployment: its active/previous model file, and the inference API's input checks. */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ActiveModelStore, ACTIVE_MODEL_FILE } from '../../agent/src/models/active-model.js';
import type { InputInfo } from '../../agent/src/runtimes/runtime.js';
import { checkFeedNames, tensorFromBytes, tensorFromJson, tensorToJson } from '../../agent/src/serve/tensors.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);
const C = 'c'.repeat(64);

describe('active model state', () => {
  it('activate shifts active to previous, rollback restores it only for its own deployment, and it all survives a reload', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-active-'));
    const s = await new ActiveModelStore(dir).load();
    expect(s.state).toEqual({ active: null, previous: null });
    await s.save(s.activated(A, 'dep-1'));
    await s.save(s.activated(B, 'dep-2'));
    expect([s.state.active?.sha256, s.state.previous?.sha256]).toEqual([B, A]);
    // Re-activating the same model keeps the previous one (a converging agent is told again).
    await s.save(s.activated(B, 'dep-3'));
    expect([s.state.active?.sha256, s.state.active?.deployment_id, s.state.previous?.sha256]).toEqual([B, 'dep-3', A]);
    expect(s.pinned().sort()).toEqual([A, B]);
    expect(s.rolledBack('dep-other')).toEqual(s.state);
    await s.save(s.rolledBack('dep-3'));
    expect([s.state.active?.sha256, s.state.previous]).toEqual([A, null]);
    await s.save(s.activated(C, 'dep-4'));
    const again = await new ActiveModelStore(dir).load();
    expect(again.state).toEqual(s.state);
    // Written by rename: no temporary files left behind.
    expect(readdirSync(dir)).toEqual([ACTIVE_MODEL_FILE]);
  });

  it('a corrupt state file is an error that names the file', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-active-'));
    writeFileSync(path.join(dir, ACTIVE_MODEL_FILE), '{"active": 3');
    await expect(new ActiveModelStore(dir).load()).rejects.toThrow(/active-model\.json is not JSON/);
    writeFileSync(path.join(dir, ACTIVE_MODEL_FILE), '{"active": {"sha256": "nope"}, "previous": null}');
    await expect(new ActiveModelStore(dir).load()).rejects.toThrow(/is not a model state/);
  });
});

describe('inference API tensors', () => {
  const x: InputInfo = { name: 'x', isTensor: true, dtype: 'float32', shape: ['batch', 3] };
  const tokens: InputInfo = { name: 'tokens', isTensor: true, dtype: 'int64', shape: ['batch'] };

  it('turns JSON into typed tensors of the declared dtype, and back', () => {
    const t = tensorFromJson(x, { dims: [2, 3], data: [1, 2, 3, 4, 5, 6.5] });
    expect(t.data).toBeInstanceOf(Float32Array);
    expect(tensorToJson(t)).toEqual({ dtype: 'float32', dims: [2, 3], data: [1, 2, 3, 4, 5, 6.5] });
    const k = tensorFromJson(tokens, { dims: [2], data: [7, 15] });
    expect(Array.from(k.data as BigInt64Array)).toEqual([7n, 15n]);
    expect(tensorToJson(k).data).toEqual([7, 15]);
  });

  it('names the input and the problem', () => {
    expect(() => tensorFromJson(x, { dims: [2, 4], data: new Array(8).fill(0) })).toThrow(
      /input "x": dims \[2, 4\] do not match the declared \[batch, 3\] \(dimension 1 is fixed at 3\)/,
    );
    expect(() => tensorFromJson(x, { dims: [1, 3], data: [0, 0, null] })).toThrow(/data\[2\] is null, not a number/);
    expect(() => tensorFromJson(x, { dims: [1, 3], data: [0, 0] })).toThrow(/data has 2 values, dims \[1, 3\] need 3/);
    expect(() => tensorFromJson(x, { dims: [1, 3], data: [0, 0, 0], dtype: 'int32' })).toThrow(
      /is float32 in the model, the request says "int32"/,
    );
    expect(() => tensorFromJson(x, [1, 2, 3])).toThrow(/must be an object \{"dims"/);
    expect(() => tensorFromJson(tokens, { dims: [1], data: [1.5] })).toThrow(
      /is int64: data\[0\] = 1\.5 is not an integer/,
    );
    expect(() => tensorFromJson({ ...x, dtype: 'string' }, { dims: [1, 3], data: [] })).toThrow(
      /type string, which this API cannot feed/,
    );
    expect(() => checkFeedNames([x, tokens], ['x'])).toThrow(/missing input "tokens"/);
    expect(() => checkFeedNames([x], ['x', 'y'])).toThrow(/no input "y" \(inputs: x\)/);
  });

  it('reads raw little-endian bytes by the shape given beside them, refusing a wrong count or non-finite values', () => {
    const f = new Float32Array([1, 2, 3]);
    expect(Array.from(tensorFromBytes(x, Buffer.from(f.buffer), [1, 3]).data as Float32Array)).toEqual([1, 2, 3]);
    expect(() => tensorFromBytes(x, Buffer.alloc(8), [1, 3])).toThrow(/8 bytes sent, float32 \[1, 3\] needs 12/);
    expect(() => tensorFromBytes(x, Buffer.from(new Float32Array([1, NaN, 3]).buffer), [1, 3])).toThrow(
      /element 1 is not finite/,
    );
  });
});
