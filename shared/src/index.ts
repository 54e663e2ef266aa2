export { PROTOCOL_VERSION, PACKAGE_VERSION } from './version.js';
