/**
 * The two switch databases every behavioural test runs against: a real
 * ovsdb-server (its unix socket) and the in-process server (TCP).
 */
import { createVswitchServer } from '../../src/ovsdb/server/index.ts';
import { realOvsAvailable, startOvsdbServer } from '../harness/ovsdb-server.ts';

export interface ServerTarget {
  name: string;
  /** A reason to skip (binaries missing outside CI), or false. */
  skip: false | string;
  /** Starts a fresh database with the Open_vSwitch row in place. */
  start: () => Promise<{ endpoint: string; stop: () => Promise<void> }>;
}

export function serverTargets(): ServerTarget[] {
  const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);
  return [
    {
      name: 'real ovsdb-server',
      skip: real.skip,
      start: async () => {
        const server = await startOvsdbServer({ init: true });
        return { endpoint: server.unixEndpoint, stop: () => server.stop() };
      },
    },
    {
      name: 'in-process server',
      skip: false,
      start: async () => {
        const server = createVswitchServer({ init: true });
        const endpoint = await server.listen('tcp:127.0.0.1:0');
        return { endpoint, stop: () => server.close() };
      },
    },
  ];
}
