import { DataError } from './options.js';

/** One `{"x": [...], "y": ...}` per line, as read: x is steps (numbers) or steps × features; y an id or multi-hot. */
export interface JsonlRows {
  x: (number[] | number[][])[];
  y: (number | number[])[];
  lines: number[]; // 1-based line number of each row, for errors
}

export function parseJsonl(text: string, file: string): JsonlRows {
  const rows: JsonlRows = { x: [], y: [], lines: [] };
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `${file} line ${i + 1}`;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (err) {
      throw new DataError(`${where}: not valid JSON (${(err as Error).message})`);
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new DataError(`${where}: expected an object {"x": [...], "y": ...}`);
    }
    const { x, y } = obj as { x?: unknown; y?: unknown };
    if (!Array.isArray(x) || x.length === 0) throw new DataError(`${where}: "x" must be a non-empty array`);
    const nested = Array.isArray(x[0]);
    for (const step of x) {
      const ok = nested
        ? Array.isArray(step) && step.length > 0 && step.every((v) => typeof v === 'number' && Number.isFinite(v))
        : typeof step === 'number' && Number.isFinite(step);
      if (!ok) {
        throw new DataError(
          `${where}: "x" must be numbers or arrays of numbers (one per step), not a mix; bad step ${JSON.stringify(step)}`,
        );
      }
    }
    const yOk =
      (typeof y === 'number' && Number.isInteger(y)) ||
      (Array.isArray(y) && y.length > 0 && y.every((v) => v === 0 || v === 1));
    if (!yOk) {
      throw new DataError(
        `${where}: "y" must be an integer class id or a multi-hot array of 0/1, got ${JSON.stringify(y)}`,
      );
    }
    rows.x.push(x as number[] | number[][]);
    rows.y.push(y as number | number[]);
    rows.lines.push(i + 1);
  });
  if (rows.x.length === 0) throw new DataError(`${file}: empty file (no {"x", "y"} lines)`);
  return rows;
}
