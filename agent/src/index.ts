export { deviceFacts, boardModel } from './device.js';
export type { DeviceFacts } from './device.js';
export { Agent, defaultCacheDir, probeRuntimes } from './agent.js';
export type { AgentOptions } from './agent.js';
export { ModelCache } from './models/cache.js';
export { AgentJobs } from './link/jobs.js';
export { AgentLink } from './link/link.js';
export {
  measure,
  probeRuntime,
  toMeasurement,
  prepareSpare,
  dropSpare,
  measurePeakInChild,
} from './measure/measure.js';
export { BUSY_THRESHOLD, backgroundLoad, parseProcStat, processCpuMs, readCpu } from './measure/load.js';
export { PeakCache, PEAK_FILE } from './measure/peak-cache.js';
export { MATMUL_SIZES, measurePeak } from './measure/peak.js';
export { readMetadata, matmulModel, bandwidthModel, bandwidthBytes, tinyModel, OnnxParseError } from './onnx-lite.js';
export { summariseTrace, sectionOf, PROFILE_RUNS } from './measure/profile.js';
export { timeRuns } from './measure/bench.js';
export { synthesiseFeeds, synthesiseInput, resolveShape, InputError } from './measure/inputs.js';
export { thermalSnapshot, parseVcgencmd, zoneThrottle, wasThrottled } from './measure/thermal.js';
export { RUNTIMES, pickRuntime, runtimeByName } from './runtimes/registry.js';
export type { Runtime, Session, LoadOptions, InputInfo, Feeds } from './runtimes/runtime.js';
export { ActiveModelStore, ACTIVE_MODEL_FILE } from './models/active-model.js';
export { InferenceServer } from './serve/server.js';
export type { InferenceServerOptions } from './serve/server.js';
export { ServedModel } from './serve/model.js';
export { StepSessions } from './serve/sessions.js';
export { Activation } from './serve/activation.js';
export {
  ServeError,
  tensorFromJson,
  tensorFromBytes,
  checkDims,
  checkFeedNames,
  tensorToJson,
} from './serve/tensors.js';
