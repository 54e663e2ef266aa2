/// <reference lib="dom" />
/**
 * The browser agent's measurement worker: one per job (onnxruntime-web's WASM thread count is fixed once its
 * module starts, and a fresh worker starts from a clean heap), so the tab stays responsive while it times.
 * The timing loop, the synthesised inputs and the figures are the node agent's own code (measure/), so both
 * agents measure the same way: warm-up, minimum time and samples, percentiles, median CI, A/B interleaving.
 */
import { timeRuns } from '../measure/bench.js';
import { declaredWork } from '../measure/declared.js';
import { toMeasurement } from '../measure/figures.js';
import { JobFailure, errorText as text, firstRuns, prepareFeeds } from '../measure/job-steps.js';
import { wrapSession, type OrtModule } from '../runtimes/ort-common.js';
import type { Session } from '../runtimes/runtime.js';
import { BROWSER_WEBGPU, type WorkerReply, type WorkerRequest } from './messages.js';

// The DOM lib types `self` as a Window; in a dedicated worker it is the worker's own scope.
const scope = self as unknown as {
  postMessage(m: WorkerReply): void;
  onmessage: ((e: MessageEvent<WorkerRequest>) => void) | null;
  crossOriginIsolated: boolean;
};

const progress = (t: string) => scope.postMessage({ kind: 'progress', text: t });

type OrtWeb = OrtModule & {
  env: OrtModule['env'] & { wasm: { numThreads?: number; wasmPaths?: string; simd?: boolean } };
};

async function measure(req: WorkerRequest): Promise<WorkerReply> {
  const started = new Date();
  const webgpu = req.runtime === BROWSER_WEBGPU;
  // The served module, not a bundled copy: onnxruntime-web finds its .wasm and thread workers beside it.
  const ort = (await import(/* @vite-ignore */ `${req.ortBase}ort.all.bundle.min.mjs`)) as OrtWeb;
  ort.env.wasm.wasmPaths = req.ortBase;
  const isolated = scope.crossOriginIsolated === true;
  // WASM threads need SharedArrayBuffer, which a page without COOP/COEP does not get: one thread then, said so.
  const threads = isolated ? req.settings.threads : 1;
  ort.env.wasm.numThreads = threads;
  const version = ort.env.versions?.web ?? ort.env.versions?.common ?? 'unknown';

  const sessions: Session[] = [];
  const loadMs: number[] = [];
  for (const m of req.models) {
    progress(`loading model ${m.sha256.slice(0, 12)}…`);
    const t0 = performance.now();
    try {
      const s = await ort.InferenceSession.create(m.bytes, {
        executionProviders: [webgpu ? 'webgpu' : 'wasm'],
        graphOptimizationLevel: req.settings.graph_optimization,
        logSeverityLevel: 4,
      });
      sessions.push(wrapSession(ort, s as never));
    } catch (err) {
      throw new JobFailure(
        'bad_model',
        `${req.runtime} could not load model ${m.sha256.slice(0, 12)}… (${m.bytes.length} bytes): ${text(err)}`,
      );
    }
    loadMs.push(performance.now() - t0);
  }

  const { feeds, inputs } = prepareFeeds(sessions, req.settings);
  const firstMs = await firstRuns(sessions, feeds, req.models);

  progress('timing');
  let timed;
  try {
    timed = await timeRuns(
      sessions.map((s, i) => () => s.run(feeds[i]!)),
      req.settings,
    );
  } catch (err) {
    throw new JobFailure('run_failed', `a timed run failed: ${text(err)}`);
  }
  for (const s of sessions) await s.dispose();

  const settings: Record<string, string | number | boolean> = {
    execution_provider: webgpu ? 'webgpu' : 'wasm',
    wasm_threads: threads,
    graph_optimization: req.settings.graph_optimization,
    cross_origin_isolated: isolated,
  };
  if (threads !== req.settings.threads)
    settings.threads_note = `asked for ${req.settings.threads} threads; the page is not cross-origin isolated, so WASM runs one thread`;
  if (webgpu && req.webgpuAdapter) settings.webgpu_adapter = req.webgpuAdapter.slice(0, 200);

  const nullSnapshot = { temperature_c: null, cpu_mhz: null, throttle: null };
  const measurement = toMeasurement(
    {
      runtime: { name: req.runtime, version, settings },
      models: req.models.map((m, i) => ({
        sha256: m.sha256,
        size_bytes: m.bytes.length,
        inputs: inputs[i]!,
        load_ms: loadMs[i]!,
        first_run_ms: firstMs[i]!,
        samples: timed.samples[i]!,
        declared: declaredWork(m.bytes, inputs[i]!),
      })),
      ratios: timed.ratios,
      warmup: timed.warmup,
      // A tab cannot read its resident set; the page adds measureUserAgentSpecificMemory where it can.
      rss: null,
    },
    req.settings,
    {
      // No thermal sensors in a browser: unknown, not zero.
      thermal: { before: nullSnapshot, after: nullSnapshot, throttled: false },
      started_at: started.toISOString(),
      duration_ms: Date.now() - started.getTime(),
      background_load: null,
    },
  );
  return { kind: 'figures', measurement };
}

scope.onmessage = (e) => {
  void measure(e.data)
    .catch((err): WorkerReply =>
      err instanceof JobFailure
        ? { kind: 'failed', error: { code: err.code, message: err.message } }
        : { kind: 'failed', error: { code: 'agent_error', message: text(err) } },
    )
    .then((reply) => scope.postMessage(reply));
};
