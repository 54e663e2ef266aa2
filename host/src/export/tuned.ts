/**
 * Tuning records: which export variant (and options, e.g. the chunked block length) measured fastest for a
 * model shape on a device class, as `s4op export --tune` found it. A device class is a tag (any agent with
 * it), or an agent's name when it has no tag. Records are kept in the run store (table export_tunings); the
 * newest one for a class and shape is the one `auto` exports use. The pruning rate is not part of the shape:
 * a class tuned on the base model keeps its choice for the pruned candidates of that model. The kept state
 * width is: with states pruned, the widest channel's kept modes are part of the shape (the best variant moves
 * with them — conv-scan.ts), so a record holds for the width it was measured at.
 */
import type { ModelConfig } from '../model/config.js';
import type { SequenceModel } from '../model/model.js';
import { canonicalJson, type RunStore } from '../store/run-store.js';
import type { ExportMode } from './export.js';
import { keptStateWidth } from './layer-ssm.js';
import type { VariantOptions } from './variants/variant.js';

/** What a tuning applies to: exports of this mode, length and architecture. */
export interface TuneShape {
  mode: ExportMode;
  /** Conv mode's sequence length; null in step mode (one step at a time). */
  length: number | null;
  d_model: number;
  d_state: number;
  n_layers: number;
  ssm: ModelConfig['ssm'];
  bidirectional: boolean;
  /** With states pruned: the most modes an active channel keeps (absent when every mode is kept). */
  modes?: number;
}

/** One option the tuner measured, with its figures (paired against the common reference). */
export interface TuneOption {
  label: string;
  variant: string;
  variant_options: VariantOptions;
  /** The common reference of the pairs (the static `auto` choice when it was among the options). */
  reference: boolean;
  /** Parameters the variant records per layer (block length, FFT size, …), of the first layer with operators. */
  params: Record<string, number>;
  nodes: number;
  ssm_nodes: number;
  flops: number;
  bytes: number;
  model_sha256: string;
  /** Median over interleaved pairs of latency(option) / latency(reference); 1 for the reference itself. */
  ratio: number;
  ratio_ci: [number, number] | null;
  /** p50 of this option and of the reference in the same A/B job (ms); the reference's own p50 for the reference. */
  p50_ms: number | null;
  reference_p50_ms: number | null;
  job_id: string | null;
}

export interface TuningInput {
  device_class: string;
  shape: TuneShape;
  /** The winner. */
  variant: string;
  variant_options: VariantOptions;
  label: string;
  /** Label of the common reference. */
  reference: string;
  options: TuneOption[];
  /** The agent that measured. */
  agent: string;
  settings: Record<string, unknown>;
  /** The model tuned on (checkpoint, weights hash, pruning rate): provenance, not part of the match. */
  model?: Record<string, unknown> | null;
  /** Default now; tests set it. */
  created_at?: string;
}

export interface TuningRecord extends TuningInput {
  id: number;
  created_at: string;
}

export function tuneShape(config: ModelConfig, mode: ExportMode, length?: number | null, modes?: number): TuneShape {
  if (mode === 'conv' && !(Number.isInteger(length) && length! >= 1))
    throw new Error(`a conv-mode tuning shape needs the sequence length, got ${String(length)}`);
  return {
    mode,
    length: mode === 'conv' ? length! : null,
    d_model: config.dModel,
    d_state: config.dState,
    n_layers: config.nLayers,
    ssm: config.ssm,
    bidirectional: config.bidirectional,
    ...(modes === undefined ? {} : { modes }),
  };
}

/** A model's tuning shape: its config's, with the kept state width when states are pruned. */
export function modelTuneShape(model: SequenceModel, mode: ExportMode, length?: number | null): TuneShape {
  return tuneShape(model.config, mode, length, keptStateWidth(model));
}

/** "conv L 196, S4D d_model 32 d_state 32, 4 layers": how messages name a shape. */
export function describeShape(s: TuneShape): string {
  return `${s.mode}${s.length === null ? '' : ` L ${s.length}`}, ${s.ssm.toUpperCase()}${s.bidirectional ? ' bidirectional' : ''} d_model ${s.d_model} d_state ${s.d_state}${s.modes === undefined ? '' : ` (${s.modes} modes kept)`}, ${s.n_layers} layers`;
}

export function shapeKey(s: TuneShape): string {
  return canonicalJson({
    mode: s.mode,
    length: s.length,
    d_model: s.d_model,
    d_state: s.d_state,
    n_layers: s.n_layers,
    ssm: s.ssm,
    bidirectional: s.bidirectional,
    // Absent for unpruned states, so that records made before the field existed still match.
    ...(s.modes === undefined ? {} : { modes: s.modes }),
  });
}

/** The device class of a measurement target: the tag, else the agent's name, else the local agent. */
export function deviceClassOf(target: { agent?: string; tag?: string; deviceClass?: string }): string {
  const cls = target.deviceClass ?? target.tag ?? target.agent ?? 'local';
  checkDeviceClass(cls);
  return cls;
}

export function checkDeviceClass(cls: string): void {
  if (!/^[\w.:@-]{1,128}$/.test(cls))
    throw new Error(
      `device class "${cls}" must be 1–128 letters, digits, '.', ':', '@', '_' or '-' (a tag or an agent name)`,
    );
}

/** Records a tuning (a new row: earlier ones stay as history). */
export function recordTuning(store: RunStore, t: TuningInput): TuningRecord {
  checkDeviceClass(t.device_class);
  if (!t.options.some((o) => o.label === t.label))
    throw new Error(`tuning winner "${t.label}" is not among its options`);
  const created = t.created_at ?? new Date().toISOString();
  const r = store.db
    .prepare(
      `INSERT INTO export_tunings (device_class, shape_key, shape, variant, variant_options, label, reference, options, agent, settings, model, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      t.device_class,
      shapeKey(t.shape),
      JSON.stringify(t.shape),
      t.variant,
      JSON.stringify(t.variant_options),
      t.label,
      t.reference,
      JSON.stringify(t.options),
      t.agent,
      canonicalJson(t.settings),
      t.model ? JSON.stringify(t.model) : null,
      created,
    );
  return tuningById(store, Number(r.lastInsertRowid))!;
}

/** The newest tuning of `deviceClass` for exports of `shape`, or undefined (then `auto` keeps its static choice). */
export function tunedVariant(store: RunStore, deviceClass: string, shape: TuneShape): TuningRecord | undefined {
  const row = store.db
    .prepare(
      'SELECT * FROM export_tunings WHERE device_class = ? AND shape_key = ? ORDER BY created_at DESC, id DESC LIMIT 1',
    )
    .get(deviceClass, shapeKey(shape)) as Row | undefined;
  return row ? tuningFrom(row) : undefined;
}

export function tuningById(store: RunStore, id: number): TuningRecord | undefined {
  const row = store.db.prepare('SELECT * FROM export_tunings WHERE id = ?').get(id) as Row | undefined;
  return row ? tuningFrom(row) : undefined;
}

/** Every tuning (of one class, if given), newest first. */
export function listTunings(store: RunStore, deviceClass?: string): TuningRecord[] {
  const rows = (
    deviceClass === undefined
      ? store.db.prepare('SELECT * FROM export_tunings ORDER BY created_at DESC, id DESC').all()
      : store.db
          .prepare('SELECT * FROM export_tunings WHERE device_class = ? ORDER BY created_at DESC, id DESC')
          .all(deviceClass)
  ) as Row[];
  return rows.map(tuningFrom);
}

/** "chunked T=32 (tuned for class pi5 on 2026-12-07)": how exports and reports name a tuned choice. */
export function tunedLabel(t: Pick<TuningRecord, 'label' | 'device_class' | 'created_at'>): string {
  return `${t.label} (tuned for class ${t.device_class} on ${t.created_at.slice(0, 10)})`;
}

/** What a run records about the tuned export its measurer used (runs.config.measure.tuned). */
export interface RunTuningNote {
  id: number;
  device_class: string;
  variant: string;
  variant_options: VariantOptions;
  label: string;
  created_at: string;
}

/** Notes in a run's config which tuning its measurer's `auto` exports follow, for the report. */
export function noteTuningInRun(store: RunStore, runId: string, t: TuningRecord): void {
  const note: RunTuningNote = {
    id: t.id,
    device_class: t.device_class,
    variant: t.variant,
    variant_options: t.variant_options,
    label: t.label,
    created_at: t.created_at,
  };
  const r = store.db
    .prepare("UPDATE runs SET config = json_set(config, '$.measure.tuned', json(?)) WHERE id = ?")
    .run(JSON.stringify(note), runId);
  if (r.changes !== 1) throw new Error(`no run ${runId} in ${store.file}`);
}

type Row = Record<string, unknown>;

function tuningFrom(r: Row): TuningRecord {
  return {
    id: r.id as number,
    device_class: r.device_class as string,
    shape: JSON.parse(r.shape as string) as TuneShape,
    variant: r.variant as string,
    variant_options: JSON.parse(r.variant_options as string) as VariantOptions,
    label: r.label as string,
    reference: r.reference as string,
    options: JSON.parse(r.options as string) as TuneOption[],
    agent: r.agent as string,
    settings: JSON.parse(r.settings as string) as Record<string, unknown>,
    model: r.model == null ? null : (JSON.parse(r.model as string) as Record<string, unknown>),
    created_at: r.created_at as string,
  };
}
