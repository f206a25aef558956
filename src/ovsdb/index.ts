/**
 * A standalone OVSDB (RFC 7047) client for Node.js: framing, JSON-RPC,
 * datum codec, schema-checked operations, typed errors, reconnecting client,
 * monitor-fed replica and typed Open_vSwitch helpers. Imports nothing else
 * from this project.
 */
export * from './errors.ts';
export * from './framing.ts';
export * from './datum.ts';
export * from './schema.ts';
export * from './operations.ts';
export * from './transport.ts';
export * from './rpc.ts';
export * from './client.ts';
export * from './replica.ts';
export * as vswitch from './vswitch/index.ts';
