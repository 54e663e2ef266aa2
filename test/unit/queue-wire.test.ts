/** The queue's wire without Redis: URL parsing (password, TLS, bad input), versions, checkpoint bundles. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SequenceModel } from '../../host/src/model/model.js';
import { DEFAULT_CONFIG } from '../../host/src/model/config.js';
import { saveCheckpoint } from '../../host/src/model/checkpoint.js';
import { BlobError, bundle, sha256, unbundle } from '../../host/src/queue/blobs.js';
import { redisOptions, versionMismatch, WIRE_VERSION } from '../../host/src/queue/connection.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 's4op-queue-wire-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('queue wire', () => {
  it('reads redis:// and rediss:// URLs with user, password and database', () => {
    expect(redisOptions('redis://127.0.0.1:6390')).toMatchObject({ host: '127.0.0.1', port: 6390, db: 0 });
    const o = redisOptions('rediss://worker:p%40ss@redis.lan/3');
    expect(o).toMatchObject({ host: 'redis.lan', port: 6379, username: 'worker', password: 'p@ss', db: 3 });
    expect(o.tls).toEqual({});
    expect(redisOptions('redis://h:1').tls).toBeUndefined();
  });

  it('names a bad URL', () => {
    expect(() => redisOptions('localhost:6379')).toThrow(/not a Redis URL: "localhost:6379"/);
    expect(() => redisOptions('http://h:1')).toThrow(/expected redis:\/\/ or rediss:\/\//);
    expect(() => redisOptions('redis://h:1/x')).toThrow(/database must be a number/);
  });

  it('refuses another version or protocol, naming both', () => {
    expect(versionMismatch(WIRE_VERSION)).toBeUndefined();
    expect(versionMismatch({ ...WIRE_VERSION, protocol: WIRE_VERSION.protocol + 1 })).toMatch(
      /refused: this worker is s4op .* \(protocol \d+\)/,
    );
    expect(versionMismatch(undefined)).toMatch(/an unknown s4op version/);
  });

  it('a checkpoint bundle round-trips byte for byte; a damaged one is refused', async () => {
    const model = new SequenceModel(
      {
        ...DEFAULT_CONFIG,
        dModel: 4,
        dState: 4,
        nLayers: 1,
        inputKind: 'continuous',
        inputSize: 1,
        numClasses: 2,
        multiLabel: false,
      },
      1,
    );
    const src = path.join(dir, 'src');
    await saveCheckpoint(src, model);
    model.dispose();
    const buf = await bundle(src);
    expect(sha256(await bundle(src))).toBe(sha256(buf));
    const out = path.join(dir, 'out');
    await unbundle(buf, out);
    for (const f of ['config.json', 'model.safetensors'])
      expect(readFileSync(path.join(out, f))).toEqual(readFileSync(path.join(src, f)));
    await expect(unbundle(Buffer.from('garbage'), path.join(dir, 'bad'))).rejects.toThrow(BlobError);
    await expect(unbundle(Buffer.concat([buf, Buffer.from('x')]), path.join(dir, 'bad'))).rejects.toThrow(
      /trailing bytes/,
    );
  });
});
