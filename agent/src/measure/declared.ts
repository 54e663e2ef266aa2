/** The work an S4oP export declares in its ONNX metadata, read by the measurement process. */
import { OnnxParseError, readMetadata } from '../onnx-lite.js';

/** The work an S4oP export declares in its metadata (declared_flops, declared_flops_by_section). */
export interface DeclaredWork {
  /** FLOPs per batch element. */
  flops: number;
  by_section: Record<string, number> | null;
  /** Batch the measurement fed (the first dimension of the model's data input). */
  batch: number;
}

/** The declared work in an S4oP export's metadata; null for other models (or metadata that does not parse). */
export function declaredWork(bytes: Uint8Array, fed: { name: string; shape: number[] }[]): DeclaredWork | null {
  let meta: Record<string, string>;
  try {
    meta = readMetadata(bytes);
  } catch (err) {
    if (err instanceof OnnxParseError) return null;
    throw err;
  }
  const flops = Number(meta.declared_flops);
  if (!meta.declared_flops || !Number.isFinite(flops) || flops < 0) return null;
  let bySection: Record<string, number> | null = null;
  try {
    const parsed = JSON.parse(meta.declared_flops_by_section ?? 'null') as unknown;
    if (
      parsed &&
      typeof parsed === 'object' &&
      Object.values(parsed).every((v) => typeof v === 'number' && Number.isFinite(v))
    )
      bySection = parsed as Record<string, number>;
  } catch {
    // per-section work unreadable: the total still stands
  }
  const input = fed.find((i) => i.name === meta.inputs) ?? fed[0];
  return { flops, by_section: bySection, batch: input?.shape[0] ?? 1 };
}
