/** The neutral per-port view of a host's switch, merged from what each backend enforces. */
import type { VswitchView } from '../../ovsdb/vswitch/index.ts';
import { hostPorts, type HostPort } from '../drift.ts';
import type { EnforcedPortView, EnforcementBackend, HostEnforcementView, HostSnapshot } from './types.ts';

export function composeEnforcementView(view: VswitchView, backends: readonly EnforcementBackend[]): HostEnforcementView {
  const snapshot: HostSnapshot = { view };
  let byIfaceId: Map<string, HostPort> | undefined;
  return {
    port(ifaceId: string): EnforcedPortView | undefined {
      byIfaceId ??= new Map(hostPorts(view).flatMap((p) => (p.ifaceId === undefined ? [] : [[p.ifaceId, p] as const])));
      const hp = byIfaceId.get(ifaceId);
      const iface = hp?.ifaces.find((i) => i.external_ids.get('iface-id') === ifaceId);
      if (!hp || !iface) return undefined;
      const out: EnforcedPortView = { portName: hp.port.name, interfaceName: iface.name, ofport: iface.ofport ?? null, download: null, upload: null };
      // A backend that enforces something wins over one that reports nothing for that direction.
      for (const backend of backends) {
        const part = backend.describe(hp, snapshot);
        if (part.download != null) out.download = part.download;
        if (part.upload != null) out.upload = part.upload;
      }
      return out;
    },
  };
}
