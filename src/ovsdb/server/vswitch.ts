/**
 * The in-process server preloaded with the embedded Open_vSwitch subset
 * schema: a stand-in for a switch's ovsdb-server when OVS is not installed.
 */
import { embeddedVswitchSchema } from '../vswitch/schema.ts';
import { InProcessOvsdbServer, type InProcessOvsdbServerOptions } from './server.ts';

export interface VswitchServerOptions {
  /** Insert the single Open_vSwitch row, like `ovs-vsctl init`. @default true */
  init?: boolean;
  /** See {@link InProcessOvsdbServerOptions.txnHistoryLimit}. */
  txnHistoryLimit?: number;
  /** See {@link InProcessOvsdbServerOptions.inactivityProbeMs}. */
  inactivityProbeMs?: number;
}

/** A server with the embedded vswitch subset schema (database "Open_vSwitch"). */
export function createVswitchServer(options: VswitchServerOptions = {}): InProcessOvsdbServer {
  const serverOptions: InProcessOvsdbServerOptions = { schemas: [embeddedVswitchSchema()] };
  if (options.txnHistoryLimit !== undefined) serverOptions.txnHistoryLimit = options.txnHistoryLimit;
  if (options.inactivityProbeMs !== undefined) serverOptions.inactivityProbeMs = options.inactivityProbeMs;
  const server = new InProcessOvsdbServer(serverOptions);
  if (options.init ?? true) {
    // The transaction is synchronous: no wait operation, so it completes before transact returns.
    void server.transact('Open_vSwitch', [{ op: 'insert', table: 'Open_vSwitch', row: {} }]);
  }
  return server;
}
