/** What `s4op deploy --model` names: a candidate of the workspace's run store, or a file; errors say what is wrong. */
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../host/src/fleet/deploy/model.js';
import { RunStore } from '../../host/src/store/run-store.js';
import { mlpModel } from '../../host/src/testing/onnx-models.js';

const result = (over: Record<string, unknown> = {}) => ({
  active_operators: [[0]],
  bypassed: [0],
  operators_active: 1,
  operators_total: 2,
  params: 1,
  checkpoint: 'ck',
  weights_sha256: 'w',
  model_sha256: null,
  val_metric: 0.5,
  val_loss: 1,
  test_metric: 0.5,
  test_loss: 1,
  finetune_epochs: 1,
  finetune_steps: 1,
  finetune_seconds: 1,
  measurement_id: null,
  ...over,
});

describe('resolveModel', () => {
  it('a candidate: its ONNX artifact checked by hash, with the lab measurement it was chosen on', () => {
    const ws = mkdtempSync(path.join(os.tmpdir(), 's4op-model-'));
    expect(() => resolveModel('3', ws)).toThrow(/--model 3: no run store at .*runs\.sqlite/);
    const store = RunStore.openWorkspace(ws);
    const file = path.join(ws, 'c.onnx');
    const bytes = mlpModel({ width: 4, layers: 1, seed: 5 });
    writeFileSync(file, bytes);
    const sha = createHash('sha256').update(bytes).digest('hex');
    store.createRun({ id: 'r', strategy: 's4op', base_checkpoint: 'ck', dataset: {}, config: {} });
    const m = store.addMeasurement({
      model_sha256: sha,
      agent: 'local',
      kind: 'measured',
      settings: { threads: 2 },
      runtime: 'onnxruntime-web 1.23.0',
      p50_ms: 1,
      p90_ms: 2,
      rss_mb: 50,
      statistics: { p99: 3, mean: 1.2 },
    });
    const estimated = store.startCandidate({ run_id: 'r', step: 1, rate: 0.1, seed: 0 });
    store.finishCandidate(estimated.id, result());
    const running = store.startCandidate({ run_id: 'r', step: 1, rate: 0.1, seed: 1 });
    const good = store.startCandidate({ run_id: 'r', step: 1, rate: 0.1, seed: 2 });
    store.finishCandidate(good.id, result({ model_sha256: sha, measurement_id: m.id }), [
      { kind: 'onnx', path: file, sha256: sha },
    ]);
    store.close();

    expect(() => resolveModel('999', ws)).toThrow(/no candidate 999 in .*runs\.sqlite/);
    expect(() => resolveModel(String(running.id), ws)).toThrow(/has not finished/);
    expect(() => resolveModel(String(estimated.id), ws)).toThrow(/has no exported ONNX artifact/);
    const r = resolveModel(String(good.id), ws);
    expect(r).toMatchObject({
      sha256: sha,
      name: `candidate-${good.id}.onnx`,
      source: { kind: 'candidate', candidate_id: good.id, run_id: 'r', path: file },
    });
    expect(r.lab).toMatchObject({
      agent: 'local',
      runtime: 'onnxruntime-web',
      runtime_version: '1.23.0',
      threads: 2,
      p50_ms: 1,
      p99_ms: 3,
      mean_ms: 1.2,
      rss_mb: 50,
    });
    // The same bytes as a file find the same lab measurement by hash.
    expect(resolveModel(file, ws).lab).toMatchObject({ p50_ms: 1 });

    writeFileSync(file, mlpModel({ width: 4, layers: 1, seed: 6 }));
    expect(() => resolveModel(String(good.id), ws)).toThrow(/the run store recorded .*: the file changed since/);
  });

  it('a file: must exist and be ONNX', () => {
    const ws = mkdtempSync(path.join(os.tmpdir(), 's4op-model-'));
    expect(() => resolveModel(path.join(ws, 'none.onnx'), ws)).toThrow(/no such file \(and not a candidate id\)/);
    const junk = path.join(ws, 'junk.onnx');
    writeFileSync(junk, 'hello');
    expect(() => resolveModel(junk, ws)).toThrow(/junk\.onnx is not an ONNX model/);
    const ok = path.join(ws, 'ok.onnx');
    writeFileSync(ok, mlpModel({ width: 2, layers: 1 }));
    expect(resolveModel(ok, ws)).toMatchObject({ name: 'ok.onnx', lab: null, source: { kind: 'file' } });
  });
});
