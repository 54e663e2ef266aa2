export { initBackend, describeBackend, BACKEND_PRIORITY } from './backend.js';
export type { BackendName, BackendChoice } from './backend.js';
