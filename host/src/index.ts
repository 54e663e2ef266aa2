export { initBackend, describeBackend, BACKEND_PRIORITY } from './backend.js';
export type { BackendName, BackendChoice } from './backend.js';
export { loadDataset, reloadDataset, BUILTIN_DATASETS, DataError } from './data/dataset.js';
export type { Dataset, DatasetInfo, DatasetOptions, Split, Batch, InputKind } from './data/dataset.js';
