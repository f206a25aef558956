import type { PortTarget } from './types.ts';

/** Plans every target once and returns the lookup a BackendPass answers from (asking for a port not planned is a bug). */
export function planEach<P>(targets: readonly PortTarget[], plan: (target: PortTarget) => P): (portId: string) => P {
  const planned = new Map<string, P>();
  for (const target of targets) planned.set(target.portId, plan(target));
  return (portId) => {
    if (!planned.has(portId)) throw new Error(`port ${portId} was not planned`);
    return planned.get(portId) as P;
  };
}
