/**
 * The host scan as it was before issue 14, kept verbatim (renamed): the
 * oracle that the faster scans (scan.ts, host-index.ts) are tested against,
 * scan by scan and, through `PlacementTuning.referenceScan`, plan by plan.
 * Not used by production callers.
 */
import { freeOf, hostCapacity } from './capacity.ts';
import { leftover, makeView, shareOf, TopK, type HostView, type Ineligibility, type Scan, type ScanLimits } from './scan.ts';
import type { Topology } from './topology.ts';
import type { HostState } from './types.ts';

export function scanHostsReference(hosts: readonly HostState[], topology: Topology, limits: ScanLimits): Scan {
  const t = topology;
  const [nv, nr, nd] = t.total;
  const [mv, mr, md] = t.maxNeed;
  const tightest = new TopK<HostView>(limits.tightest);
  const general = new TopK<HostView>(limits.pool);
  // Units pinned to an AZ must find candidates there even when that AZ's hosts are smaller than the rest.
  const perZone = new Map<string, TopK<HostView>>();
  for (const z of t.zones) perZone.set(z, new TopK<HostView>(limits.pool));
  const ineligible = new TopK<{ host: HostState; why: Ineligibility }>(limits.ineligible);
  const scan: Scan = {
    hosts: hosts.length,
    down: 0,
    disabled: 0,
    zone: 0,
    usable: 0,
    fitting: 0,
    tightest: [],
    pool: [],
    ineligible: [],
    cloudFree: [0, 0, 0],
    maxFree: [0, 0, 0],
  };
  let sumV = 0;
  let sumR = 0;
  let sumD = 0;
  let maxV = 0;
  let maxR = 0;
  let maxD = 0;
  for (const h of hosts) {
    let why: Ineligibility | undefined;
    const zoneList = perZone.get(h.availabilityZone);
    if (!h.up) why = 'down';
    else if (!h.enabled) why = 'disabled';
    else if (!t.anyZone && zoneList === undefined) why = 'zone';
    if (why !== undefined) {
      scan[why]++;
      if (ineligible.admits(0, h.name)) ineligible.add(0, h.name, { host: h, why });
      continue;
    }
    scan.usable++;
    const fv = freeOf(h.vcpu);
    const fr = freeOf(h.ramMb);
    const fd = freeOf(h.diskGb);
    if (fv > 0) sumV += fv;
    if (fr > 0) sumR += fr;
    if (fd > 0) sumD += fd;
    if (fv > maxV) maxV = fv;
    if (fr > maxR) maxR = fr;
    if (fd > maxD) maxD = fd;

    const zoneOk = t.singleZone === undefined || t.singleZone === h.availabilityZone;
    if (zoneOk && nv <= fv && nr <= fr && nd <= fd && mv <= h.vcpu.maxUnit && mr <= h.ramMb.maxUnit && md <= h.diskGb.maxUnit) {
      scan.fitting++;
      const score =
        leftover(fv, nv, hostCapacity(h.vcpu)) + leftover(fr, nr, hostCapacity(h.ramMb)) + leftover(fd, nd, hostCapacity(h.diskGb));
      if (tightest.admits(score, h.name)) tightest.add(score, h.name, makeView(h, t, score));
    }
    const negShare = -shareOf(fv, fr, fd, t);
    if (t.anyZone && general.admits(negShare, h.name)) general.add(negShare, h.name, makeView(h, t, NaN));
    if (zoneList?.admits(negShare, h.name)) zoneList.add(negShare, h.name, makeView(h, t, NaN));
  }
  scan.cloudFree = [sumV, sumR, sumD];
  scan.maxFree = [maxV, maxR, maxD];
  scan.tightest = tightest.values();
  scan.ineligible = ineligible.values();
  const merged = new Map<string, HostView>();
  for (const list of [general, ...perZone.values()]) for (const v of list.values()) merged.set(v.host.name, v);
  scan.pool = [...merged.values()].sort((a, b) => b.share - a.share || (a.host.name < b.host.name ? -1 : a.host.name > b.host.name ? 1 : 0));
  return scan;
}
