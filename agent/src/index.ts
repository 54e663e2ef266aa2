export { deviceFacts, boardModel } from './device.js';
export type { DeviceFacts } from './device.js';
