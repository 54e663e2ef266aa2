/**
 * Layout changes between channels-last tensors [B, L, H] and one contiguous float64 row per (active
 * channel, batch element), [A, B, L], in tiles of TILE time steps so the rows of x being read stay in
 * cache. JS version (any element type); ssm-core.ts has the float32 wasm twin.
 */
import type { ConvDims } from './engine.js';
import type { Real } from '../channels.js';

const TILE = 32;

/**
 * rows[(r·B + b)·L + t] = x[b, t, active[r]]: channels-last to one contiguous row per (channel, batch),
 * in tiles of TILE time steps so the rows of x being read stay in cache. With `u` and `dd`, also
 * accumulates dd[h] += Σ x·u (the D gradient) on the way.
 */
export function toChannelRows(
  x: Real,
  rows: Float64Array,
  active: Int32Array,
  dims: ConvDims,
  u?: Real,
  dd?: Float64Array,
): void {
  const { B, L, H } = dims;
  const A = active.length;
  for (let b = 0; b < B; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = Math.min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = active[r]!;
        let idx = (b * L + t0) * H + h;
        let dst = (r * B + b) * L + t0;
        if (u && dd) {
          let dot = 0;
          for (let t = t0; t < t1; t++, idx += H, dst++) {
            const v = x[idx]!;
            rows[dst] = v;
            dot += v * u[idx]!;
          }
          dd[h]! += dot;
        } else {
          for (let t = t0; t < t1; t++, idx += H, dst++) rows[dst] = x[idx]!;
        }
      }
    }
  }
}

/** out[b, t, h] = rows[(r·B + b)·L + t] + d[h]·x[b, t, h] for active h (r its row); out = x for bypassed h. */
export function fromChannelRows(
  rows: Float64Array,
  x: Real,
  d: Real,
  out: Real,
  active: Int32Array,
  dims: ConvDims,
): void {
  const { B, L, H } = dims;
  const A = active.length;
  if (A < H) out.set(x);
  for (let b = 0; b < B; b++) {
    for (let t0 = 0; t0 < L; t0 += TILE) {
      const t1 = Math.min(L, t0 + TILE);
      for (let r = 0; r < A; r++) {
        const h = active[r]!;
        const dh = d[h]!;
        let idx = (b * L + t0) * H + h;
        let src = (r * B + b) * L + t0;
        for (let t = t0; t < t1; t++, idx += H, src++) out[idx] = rows[src]! + dh * x[idx]!;
      }
    }
  }
}
