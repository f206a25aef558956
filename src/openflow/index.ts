/**
 * A standalone OpenFlow 1.3 client for Node.js (Open vSwitch oriented):
 * framing, message codec with typed builders, typed errors, and a
 * reconnecting client with batches closed by one barrier. Imports nothing
 * else from this project.
 */
export * from './errors.ts';
export * from './constants.ts';
export * from './framing.ts';
export * from './oxm.ts';
export * from './actions.ts';
export * from './messages.ts';
export * from './transport.ts';
export { OpenFlowConnection, describeMessage } from './connection.ts';
export * from './client.ts';
