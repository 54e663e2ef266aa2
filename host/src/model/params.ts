import * as tf from '@tensorflow/tfjs';

/**
 * Parameter groups: SSM parameters train at their own (lower) learning rate and without weight decay,
 * as the S4 papers prescribe; everything else is 'default'.
 */
export type ParamGroup = 'ssm' | 'default';

export interface Param {
  name: string;
  variable: tf.Variable;
  group: ParamGroup;
  trainable: boolean;
}

/**
 * Named parameters of a model. Names follow the state-spaces S4D example (encoder.weight,
 * s4_layers.{i}.kernel.log_dt, …); shapes are the ones tfjs computes with (Linear weights as [in, out]).
 */
export class ParamStore {
  private readonly params = new Map<string, Param>();

  add(name: string, values: Float32Array, shape: number[], group: ParamGroup, trainable = true): tf.Variable {
    if (this.params.has(name)) throw new Error(`parameter ${name} defined twice`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) throw new Error(`parameter ${name}: ${values.length} values for shape [${shape}]`);
    const variable = tf.variable(tf.tensor(values, shape, 'float32'), trainable, `${name}#${nextId++}`);
    this.params.set(name, { name, variable, group, trainable });
    return variable;
  }

  get(name: string): tf.Variable {
    const p = this.params.get(name);
    if (!p) throw new Error(`no parameter named ${name}`);
    return p.variable;
  }

  has(name: string): boolean {
    return this.params.has(name);
  }

  list(): Param[] {
    return [...this.params.values()];
  }

  trainable(): Param[] {
    return this.list().filter((p) => p.trainable);
  }

  /** Replaces a parameter's values (checkpoint load, import); shape must match. */
  set(name: string, values: Float32Array, shape: number[]): void {
    const v = this.get(name);
    if (shape.length !== v.shape.length || shape.some((d, i) => d !== v.shape[i])) {
      throw new Error(`parameter ${name}: shape [${shape}] does not match the model's [${v.shape}]`);
    }
    const t = tf.tensor(values, shape, 'float32');
    v.assign(t);
    t.dispose();
  }

  /** Values of every parameter, copied out (for checkpoints and export). */
  snapshot(): Map<string, { shape: number[]; values: Float32Array }> {
    const out = new Map<string, { shape: number[]; values: Float32Array }>();
    for (const p of this.params.values()) {
      out.set(p.name, { shape: [...p.variable.shape], values: p.variable.dataSync() as Float32Array });
    }
    return out;
  }

  count(filter: (p: Param) => boolean = (p) => p.trainable): number {
    return this.list()
      .filter(filter)
      .reduce((n, p) => n + p.variable.size, 0);
  }

  dispose(): void {
    for (const p of this.params.values()) p.variable.dispose();
    this.params.clear();
  }
}

// Variable names must be unique across the tfjs engine; several models may live in one process.
let nextId = 0;
