/** tfjs backends for tests of the backend seam: the cpu backend with one kernel replaced. */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';

/** Registers `name` (once): the cpu backend, with kernel `kernel` replaced by `wrap` of cpu's own. */
export function cpuWith(name: string, kernel: string, wrap: (orig: tf.KernelFunc) => tf.KernelFunc): void {
  if (tf.findBackendFactory(name)) return;
  tf.registerBackend(name, () => new MathBackendCPU());
  for (const k of tf.getKernelsForBackend('cpu')) {
    tf.registerKernel({
      ...k,
      backendName: name,
      kernelFunc: k.kernelName === kernel ? wrap(k.kernelFunc) : k.kernelFunc,
    });
  }
}

/** cpu, with every matrix product off by 1 %: what a miscompiled native kernel looks like. */
export function registerSkewedCpu(name = 'test-cpu-skewed'): string {
  cpuWith(name, 'BatchMatMul', (orig) => (args) => {
    const out = orig(args) as tf.TensorInfo;
    const backend = args.backend as MathBackendCPU;
    const values = (backend.readSync(out.dataId) as Float32Array).map((v) => v * 1.01);
    backend.disposeIntermediateTensorInfo(out);
    return backend.makeTensorInfo(out.shape, out.dtype, values);
  });
  return name;
}

/** cpu, with matrix products throwing: a backend that lacks a kernel the host needs. */
export function registerFailingCpu(name = 'test-cpu-failing'): string {
  cpuWith(name, 'BatchMatMul', () => () => {
    throw new Error('kernel BatchMatMul not implemented');
  });
  return name;
}
