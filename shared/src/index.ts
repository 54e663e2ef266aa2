export { PROTOCOL_VERSION, PACKAGE_VERSION } from './version.js';
export * from './protocol.js';
export * from './framing.js';
export * from './hash.js';
export * from './stats.js';
export * from './dtypes.js';
export * from './http-body.js';
export * from './http-api.js';
