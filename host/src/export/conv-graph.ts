/**
 * Conv mode: the full sequence in ([batch, L, inputSize] floats, or [batch, L] token ids), logits out
 * ([batch, classes]); the batch dimension is dynamic, L is fixed by the precomputed kernels.
 */
import type { ModelConfig } from '../model/config.js';
import { decoder, encoder, mixer, norm, residual, type Snapshot } from './blocks.js';
import { withBypass, type BypassMode } from './bypass.js';
import type { LayerSsm } from './layer-ssm.js';
import type { GraphBuilder } from './onnx-builder.js';
import type { ConvVariant, VariantOptions } from './variants/variant.js';

export interface ConvGraphOptions {
  L: number;
  variant: ConvVariant;
  variantOptions: VariantOptions;
  bypass: BypassMode;
}

export function buildConvGraph(b: GraphBuilder, snap: Snapshot, c: ModelConfig, ssms: LayerSsm[], o: ConvGraphOptions): void {
  const { L } = o;
  const x = c.inputKind === 'tokens'
    ? b.input('tokens', 'int64', ['batch', L])
    : b.input('x', 'float32', ['batch', L, c.inputSize]);
  let h = encoder(b, snap, c, x, L);
  for (let i = 0; i < c.nLayers; i++) {
    const ssm = ssms[i]!;
    const z = c.prenorm ? norm(b, snap, c, i, h, L) : h;
    // The variants work channels-first [batch, active, L]; the rest of the block is channels-last.
    const { y, order } = withBypass(b, z, 2, 3, ssm, o.bypass, (za) => {
      const ut = b.op('Transpose', [za], { perm: [0, 2, 1] });
      const yt = o.variant.build(b, ut, ssm, L, o.variantOptions);
      return b.op('Transpose', [yt], { perm: [0, 2, 1] });
    });
    h = residual(b, c, mixer(b, snap, c, i, y, order, L), h, L);
    if (!c.prenorm) h = norm(b, snap, c, i, h, L);
  }
  const pooled = b.op('ReduceMean', [h, b.constI64([1])], { keepdims: 0 });
  b.work(L * c.dModel);
  b.output(decoder(b, snap, c, pooled, 'logits'), 'logits', 'float32', ['batch', c.numClasses]);
}
