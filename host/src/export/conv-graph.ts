/**
 * Conv mode: the full sequence in ([batch, L, inputSize] floats, or [batch, L] token ids), logits out
 * ([batch, classes]); the batch dimension is dynamic, L is fixed by the precomputed kernels.
 */
import type { ModelConfig } from '../model/config.js';
import { decoder, encoder, mixer, norm, residual, type Arithmetic, type Snapshot } from './blocks.js';
import { withBypass, type BypassMode } from './bypass.js';
import type { LayerSsm } from './layer-ssm.js';
import type { BatchDim } from './step.js';
import type { GraphBuilder } from './onnx-builder.js';
import type { ConvVariant, VariantOptions } from './variants/variant.js';

export interface ConvGraphOptions {
  L: number;
  variant: ConvVariant;
  variantOptions: VariantOptions;
  bypass: BypassMode;
  batch: BatchDim;
  arithmetic?: Arithmetic;
}

export function buildConvGraph(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  ssms: LayerSsm[],
  o: ConvGraphOptions,
): void {
  const { L } = o;
  const x =
    c.inputKind === 'tokens'
      ? b.input('tokens', 'int64', [o.batch, L])
      : b.input('x', 'float32', [o.batch, L, c.inputSize]);
  const arithmetic = o.arithmetic ?? 'float32';
  let h = encoder(b, snap, c, x, L, arithmetic);
  for (let i = 0; i < c.nLayers; i++) {
    const ssm = ssms[i]!;
    const z = c.prenorm ? norm(b, snap, c, i, h, L) : h;
    // The variants work channels-first [batch, active, L], the rest of the block channels-last. Channels
    // are gathered after the transpose: whole rows of L steps, where a gather along the last axis would
    // copy element by element (measured several times slower in onnxruntime).
    let y = z;
    let order: Int32Array | null = null;
    if (ssm.active.length > 0) {
      const zt = b.op('Transpose', [z], { perm: [0, 2, 1] });
      const bypassed = withBypass(b, zt, 1, 3, ssm, o.bypass, (ua) => o.variant.build(b, ua, ssm, L, o.variantOptions));
      y = b.op('Transpose', [bypassed.y], { perm: [0, 2, 1] });
      order = bypassed.order;
    }
    h = residual(b, c, mixer(b, snap, c, i, y, order, L, arithmetic), h, L);
    if (!c.prenorm) h = norm(b, snap, c, i, h, L);
  }
  const pooled = b.op('ReduceMean', [h, b.constI64([1])], { keepdims: 0 });
  b.work(L * c.dModel);
  b.output(decoder(b, snap, c, pooled, 'logits', arithmetic), 'logits', 'float32', [o.batch, c.numClasses]);
}
