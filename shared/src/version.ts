/** Version of the wire protocol between host and agent. Bumped on any incompatible message change. */
export const PROTOCOL_VERSION = 1;

/** Version of the S4oP packages (kept equal across shared, host and agent). */
export const PACKAGE_VERSION = '0.1.0';
