/**
 * Step mode: one time step in ([batch, inputSize] floats or [batch] token ids), the running prediction out.
 * Each layer with active operators has a state input `state_<i>` [batch, active, 2, M] (two real rows for the
 * M = d_state/2 complex modes kept per channel: their real and imaginary parts, for S4D in a rotated basis,
 * see the kind's step layout, model/kinds/) and returns `state_<i>_next`; pooling keeps a
 * running sum `pool_sum` [batch, H] and count `pool_count` [batch, 1], so `logits` after step t is the
 * decoder applied to the mean of the last layer's outputs over steps 0 … t — what the conv model gives for
 * the sequence so far. Ā, B̄, C are precomputed in float64 (the layer's kind, model/kinds/); all states start at zero.
 */
import type { ModelConfig } from '../model/config.js';
import { ssmKind, type SsmKindName } from '../model/kinds/registry.js';
import { decoder, encoder, mixer, norm, residual, type Arithmetic, type Snapshot } from './blocks.js';
import { withBypass, type BypassMode } from './bypass.js';
import type { LayerSsm } from './layer-ssm.js';
import type { GraphBuilder } from './onnx-builder.js';

export interface StepState {
  /** Input name; the matching output is `<input>_next`. */
  input: string;
  output: string;
  dims: (number | 'batch')[];
}

/** The batch dimension: the symbolic 'batch' (dynamic) or a fixed size. */
export type BatchDim = number | 'batch';

/**
 * The two layouts (variants/step-*.ts register them as step variants):
 * 'packed' (auto): all layers' SSM states in one input `ssm_state` [batch, Σ active, 2, M + 1] (stacked along
 * axis 1 in layer order; slot M of each row holds D·u of the last step, see ssmStep) and the pooling state in
 * `pool` [batch, H + 1] (running sum, then the step count): two state tensors instead of one per layer plus
 * two (every input and output costs the binding a tensor), and two nodes fewer per layer.
 * 'recurrent': one state `state_<i>` [batch, active, 2, M] per layer, `pool_sum` and `pool_count` (the
 * previous layout). Packed measured 0.92 of recurrent per step on onnxruntime-node (1 thread, large model,
 * two runs of export-speed.ts).
 */
export type StepLayout = 'packed' | 'recurrent';

export function buildStepGraph(
  b: GraphBuilder,
  snap: Snapshot,
  c: ModelConfig,
  ssms: LayerSsm[],
  bypass: BypassMode,
  batch: BatchDim = 'batch',
  variant: StepLayout = 'packed',
  arithmetic: Arithmetic = 'float32',
): StepState[] {
  if (c.bidirectional) throw new Error('step mode needs a causal model: bidirectional layers read the future');
  const H = c.dModel;
  // The packed state is one tensor: every layer's modes padded to the widest layer's (pruned states).
  const M = Math.max(1, ...ssms.map((s) => s.M));
  const states: StepState[] = [];
  const state = (name: string, dims: (number | 'batch')[]) => {
    const s = { input: name, output: `${name}_next`, dims };
    states.push(s);
    b.input(name, 'float32', dims);
    return s;
  };
  const x =
    c.inputKind === 'tokens' ? b.input('tokens', 'int64', [batch]) : b.input('x', 'float32', [batch, c.inputSize]);
  const packed = variant === 'packed';
  // Packed: one state for every layer's SSM, split along the channel axis into the layers' parts.
  const sizes = ssms.map((s) => s.active.length).filter((n) => n > 0);
  const total = sizes.reduce((a, n) => a + n, 0);
  const all = packed && total > 0 ? state('ssm_state', [batch, total, 2, M + 1]) : undefined;
  // The free evolution (transition, and S4's rank-one term) reads only the previous state: one set of nodes
  // for all layers, before the first; each layer then adds its input term and reads out.
  const evolved = all
    ? b.within('ssm', () =>
        freeEvolution(
          b,
          ssms.filter((s) => s.active.length > 0).map((s) => stepTables(s, true, M)),
          all.input,
        ),
      )
    : undefined;
  const parts =
    evolved && sizes.length > 1
      ? b.node('Split', [evolved, b.constI64(sizes)], { axis: 1 }, sizes.length)
      : evolved
        ? [evolved]
        : [];
  const nexts: string[] = [];
  let h = encoder(b, snap, c, x, 1, arithmetic);
  for (let i = 0; i < c.nLayers; i++) {
    const ssm = ssms[i]!;
    const z = c.prenorm ? norm(b, snap, c, i, h, 1) : h;
    const Ha = ssm.active.length;
    const s = Ha > 0 && !packed ? state(`state_${i}`, [batch, Ha, 2, ssm.M]) : undefined;
    const { y, order } = withBypass(b, z, 1, 2, ssm, bypass, (ua) => {
      if (packed) {
        // The last layer's next state is the packed output itself when no Concat is needed.
        const single = sizes.length === 1 ? all!.output : undefined;
        const { y: ya, next } = inputAndReadout(b, stepTables(ssm, true, M), ua, parts[nexts.length]!, single);
        nexts.push(next);
        return ya;
      }
      const { y: ya, next } = ssmStep(b, ssm, ua, s!.input, s!.output);
      b.output(next, s!.output, 'float32', s!.dims);
      return ya;
    });
    h = residual(b, c, mixer(b, snap, c, i, y, order, 1, arithmetic), h, 1);
    if (!c.prenorm) h = norm(b, snap, c, i, h, 1);
  }
  if (all) {
    const next = nexts.length > 1 ? b.op('Concat', nexts, { axis: 1 }, all.output) : nexts[0]!;
    b.output(next, all.output, 'float32', all.dims);
  }
  if (packed) {
    // pool = [running sum of h, step count]: h with a 1 appended is what each step adds.
    const pool = state('pool', [batch, H + 1]);
    const step = b.op('Pad', [h, b.constI64([0, 0, 0, 1]), b.constF32([1])]);
    const poolNext = b.op('Add', [pool.input, step], {}, pool.output);
    const mean = b.op('Div', [
      b.op('Slice', [poolNext, b.constI64([0]), b.constI64([H]), b.constI64([1])]),
      b.op('Slice', [poolNext, b.constI64([H]), b.constI64([H + 1]), b.constI64([1])]),
    ]);
    b.work(2 * H + 1);
    b.output(decoder(b, snap, c, mean, 'logits', arithmetic), 'logits', 'float32', [batch, c.numClasses]);
    b.output(poolNext, pool.output, 'float32', pool.dims);
    return states;
  }
  const sum = state('pool_sum', [batch, H]);
  const count = state('pool_count', [batch, 1]);
  const sumNext = b.op('Add', [sum.input, h], {}, sum.output);
  const countNext = b.op('Add', [count.input, b.constF32([1])], {}, count.output);
  const mean = b.op('Div', [sumNext, countNext]);
  b.work(2 * H + 1);
  b.output(decoder(b, snap, c, mean, 'logits', arithmetic), 'logits', 'float32', [batch, c.numClasses]);
  b.output(sumNext, sum.output, 'float32', sum.dims);
  b.output(countNext, count.output, 'float32', count.dims);
  return states;
}

/**
 * x' = E∘x + w·Re(qᵀx) + b̄·u, y = 2·Re(cᵀx') + D·u on u [batch, active]; the state is [batch, active, 2, M].
 *
 * The update is E₁⊙x + E₂⊙swap(x) + b̄·u with E₁ = Re E on both rows and swap(x) the rows exchanged; what
 * the two rows hold, and so E₂, b̄ and the read-out, is the kind's step layout (model/kinds/: S4 keeps
 * Re x and Im x and adds its rank-1 term; S4D a basis whose read-out is one ReduceSum: the step costs few
 * nodes, which dominate its time). Every Mul broadcasts over whole rows, which onnxruntime runs at full
 * speed (a [.., 2, 2] rotation block would broadcast in spans of 2).
 */
function ssmStep(b: GraphBuilder, ssm: LayerSsm, u: string, x: string, nextName?: string): { y: string; next: string } {
  const { Ha, low, e1, e2, bv, cv, wv, qv } = stepTables(ssm, false);
  const M = ssm.M;
  const dims = [Ha, 2, M];
  const u4 = b.op('Unsqueeze', [u, b.constI64([2, 3])]);
  const swapped = b.op('Gather', [x, b.constI64([1, 0])], { axis: 2 });
  const terms = [
    b.op('Mul', [x, b.initF32('step_transition_re', e1, dims)]),
    b.op('Mul', [swapped, b.initF32('step_transition_im', e2, dims)]),
    b.op('Mul', [u4, b.initF32('step_input', bv, dims)]),
  ];
  if (low) {
    const rho = b.op('ReduceSum', [b.op('Mul', [x, b.initF32('step_low_rank_q', qv, dims)]), b.constI64([2, 3])], {
      keepdims: 1,
    });
    terms.push(b.op('Mul', [rho, b.initF32('step_low_rank_w', wv, dims)]));
  }
  const next = b.op('Sum', terms, {}, nextName);
  const readout = low ? b.op('Mul', [next, b.initF32('step_readout', cv, dims)]) : next;
  const yc = b.op('ReduceSum', [readout, b.constI64([2, 3])], { keepdims: 0 });
  const y = b.op('Add', [yc, b.op('Mul', [u, b.initF32('step_skip', ssm.D, [Ha])])]);
  // Per channel on [2, M]: three Muls and their Sum, the read-out ReduceSum, D·u and its Add; S4 adds qᵀx,
  // its w·ρ term (a fourth Sum input) and the read-out Mul.
  b.work(Ha * (low ? 22 * M : 12 * M + 1));
  return { y, next };
}

/** Per-channel operands of the step on [Ha, 2, K] (K = M, or M + 1 with the skip slot), see ssmStep. */
interface StepTables {
  Ha: number;
  K: number;
  low: boolean;
  e1: Float64Array;
  e2: Float64Array;
  bv: Float64Array;
  cv: Float64Array;
  wv: Float64Array;
  qv: Float64Array;
}

function stepTables(ssm: LayerSsm, skipSlot: boolean, width = ssm.M): StepTables {
  const Ha = ssm.active.length;
  // Slots beyond the layer's own modes (a packed state wider than this layer) stay 0: empty modes.
  const M = width;
  // Slots per row: the M modes, and with skipSlot one more that holds D·u (transition 0, input D, read-out 1),
  // so that the read-out's ReduceSum includes the skip term and D·u needs no nodes of its own.
  const K = M + (skipSlot ? 1 : 0);
  const n = Ha * 2 * K;
  const layout = ssmKind(ssm.kind).step;
  const low = layout.lowRank;
  const e1 = new Float64Array(n),
    e2 = new Float64Array(n),
    bv = new Float64Array(n),
    cv = new Float64Array(low ? n : 0);
  const wv = new Float64Array(low ? n : 0),
    qv = new Float64Array(low ? n : 0);
  const operands = { e2, bv, cv, wv, qv };
  ssm.steps.forEach((st, r) => {
    const re = r * 2 * K;
    const im = re + K;
    if (skipSlot) {
      bv[re + M] = ssm.D[r]!;
      if (low) cv[re + M] = 1;
    }
    for (let m = 0; m < ssm.M; m++) {
      // Re E on both rows: a full-shape operand (a [Ha, 1, M] one broadcasts mid-tensor, measured 2× slower).
      e1[re + m] = st.eRe[m]!;
      e1[im + m] = st.eRe[m]!;
      layout.fill(st, m, re, im, operands);
    }
  });
  return { Ha, K, low, e1, e2, bv, cv, wv, qv };
}

const concat = (parts: Float64Array[]) => {
  const out = new Float64Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/**
 * E∘x (+ w·Re(qᵀx) for S4) on the state x [batch, ΣHa, 2, K] of the given layers (stacked along axis 1,
 * all of the same kind and K).
 */
function freeEvolution(b: GraphBuilder, ts: StepTables[], x: string): string {
  const rows = ts.reduce((a, t) => a + t.Ha, 0);
  const K = ts[0]!.K;
  const n = rows * 2 * K;
  const dims = [rows, 2, K];
  const swapped = b.op('Gather', [x, b.constI64([1, 0])], { axis: 2 });
  const terms = [
    b.op('Mul', [x, b.initF32('step_transition_re', concat(ts.map((t) => t.e1)), dims)]),
    b.op('Mul', [swapped, b.initF32('step_transition_im', concat(ts.map((t) => t.e2)), dims)]),
  ];
  b.work(2 * n);
  if (ts[0]!.low) {
    const rho = b.op(
      'ReduceSum',
      [b.op('Mul', [x, b.initF32('step_low_rank_q', concat(ts.map((t) => t.qv)), dims)]), b.constI64([2, 3])],
      { keepdims: 1 },
    );
    terms.push(b.op('Mul', [rho, b.initF32('step_low_rank_w', concat(ts.map((t) => t.wv)), dims)]));
    b.work(n + (n - rows) + n);
  }
  b.work((terms.length - 1) * n);
  return b.op('Sum', terms);
}

/** next = evolved + b̄·u, y = read-out of next (ReduceSum over the slots; S4 after the read-out Mul). */
function inputAndReadout(
  b: GraphBuilder,
  t: StepTables,
  u: string,
  evolved: string,
  nextName?: string,
): { y: string; next: string } {
  const n = t.Ha * 2 * t.K;
  const dims = [t.Ha, 2, t.K];
  const u4 = b.op('Unsqueeze', [u, b.constI64([2, 3])]);
  const next = b.op('Add', [evolved, b.op('Mul', [u4, b.initF32('step_input', t.bv, dims)])], {}, nextName);
  const readout = t.low ? b.op('Mul', [next, b.initF32('step_readout', t.cv, dims)]) : next;
  const y = b.op('ReduceSum', [readout, b.constI64([2, 3])], { keepdims: 0 });
  b.work(2 * n + (t.low ? n : 0) + (n - t.Ha));
  return { y, next };
}

/** How the step states are laid out, for the model's metadata. */
const PACKED_NOTE =
  ". Packed step variant: ssm_state [batch, Σ active, 2, M + 1], the layers stacked along axis 1 in layer order, slot M holding D·u of the last step (p row; 0 in the other); pool [batch, H + 1]: running sum of the last layer's outputs, then the step count";

export function stepStateBasis(kind: SsmKindName): string {
  return `${ssmKind(kind).step.basis}${PACKED_NOTE}`;
}
