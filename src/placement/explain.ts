/** Sentences for operators: why a host can or cannot take (part of) the topology. */
import { formatAmount, HOST_RESOURCES } from './capacity.ts';
import { formatBps, formatCount, listNames, plural } from './format.ts';
import { val } from './num.ts';
import type { HostView, Ineligibility } from './scan.ts';
import type { Topology } from './topology.ts';
import type { HostDecision, HostState } from './types.ts';

const MAX_UNIT_EXAMPLES = 3;

export function ineligibleSentence(host: HostState, why: Ineligibility, t: Topology): string {
  if (why === 'down') return 'down: its compute service does not report';
  if (why === 'disabled') return 'disabled: its compute service is disabled for scheduling';
  return `in AZ "${host.availabilityZone}", the units ask for ${[...t.zones].map((z) => `"${z}"`).join(' or ')}`;
}

/** Units of the topology a host's `max_unit` refuses, per resource (checked per VM, never on the sum). */
export function maxUnitSentences(view: HostView, t: Topology, units?: readonly number[]): string[] {
  const out: string[] = [];
  HOST_RESOURCES.forEach((r, ri) => {
    const limit = val(view.maxUnit, ri);
    const over: number[] = [];
    // An index loop, not `units ?? t.units.keys()`: that iterator allocated a result per unit, resource and
    // described host, two fifths of a 50-unit split's garbage (issue 14).
    const count = units ? units.length : t.n;
    for (let i = 0; i < count; i++) {
      const u = units ? val(units, i) : i;
      if (val(t.need, u * 3 + ri) > limit) over.push(u);
    }
    for (const u of over.slice(0, MAX_UNIT_EXAMPLES)) {
      out.push(`${t.units[u]?.id ?? '?'} needs ${formatAmount(r, val(t.need, u * 3 + ri))} > max_unit ${formatCount(limit)}`);
    }
    if (over.length > MAX_UNIT_EXAMPLES) out.push(`${plural(over.length - MAX_UNIT_EXAMPLES, 'more unit')} over max_unit for ${r}`);
  });
  return out;
}

/** Why a host cannot hold the whole topology. */
export function singleHostShortfall(view: HostView, t: Topology): string[] {
  const out: string[] = [];
  if (t.singleZone === null) out.push(`the units ask for different AZs (${[...t.zones].join(', ')}), so no single host can hold them all`);
  else if (t.singleZone !== undefined && t.singleZone !== view.host.availabilityZone) {
    out.push(`in AZ "${view.host.availabilityZone}", some units ask for "${t.singleZone}"`);
  }
  HOST_RESOURCES.forEach((r, ri) => {
    const need = val(t.total, ri);
    const free = val(view.free, ri);
    if (need > free) out.push(`needs ${formatAmount(r, need)}, ${formatCount(Math.max(0, free))} free`);
  });
  out.push(...maxUnitSentences(view, t));
  return out;
}

export function leftoverSentence(view: HostView, used: readonly number[]): string {
  return HOST_RESOURCES.map((r, ri) => formatAmount(r, val(view.free, ri) - val(used, ri))).join(', ');
}

export function uplinkSentence(host: HostState, addedBps: number): string {
  const { capacityBps, committedBps } = host.uplink;
  if (addedBps === 0) return `uplink: this plan adds no guaranteed traffic (${formatBps(committedBps)} of ${formatBps(capacityBps)} committed before)`;
  return `uplink: this plan adds ${formatBps(addedBps)} guaranteed, ${formatBps(committedBps + addedBps)} of ${formatBps(capacityBps)} committed with it`;
}

export function headroomSentence(host: HostState): string {
  const { capacityBps, committedBps } = host.uplink;
  return `uplink headroom ${formatBps(Math.max(0, capacityBps - committedBps))} (${formatBps(committedBps)} of ${formatBps(capacityBps)} committed)`;
}

export function topologySentence(t: Topology): string {
  const demand = HOST_RESOURCES.map((r, ri) => formatAmount(r, val(t.total, ri))).join(', ');
  const traffic = t.pairs.reduce((s, p) => s + p.bps, 0);
  return `topology: ${plural(t.n, 'unit')} needing ${demand}; ${plural(t.pairs.length, 'guaranteed demand')} between units (${formatBps(traffic)} in total)`;
}

export function holdsSentence(t: Topology, units: readonly number[], view: HostView): string {
  const used = [0, 0, 0];
  for (const u of units) for (let r = 0; r < 3; r++) used[r] = val(used, r) + val(t.need, u * 3 + r);
  const ids = units.map((u) => t.units[u]?.id ?? '?');
  return `holds ${listNames(ids)} (${HOST_RESOURCES.map((r, ri) => formatAmount(r, val(used, ri))).join(', ')}; leaves ${leftoverSentence(view, used)})`;
}

export function decision(host: string, reasons: string[]): HostDecision {
  return { host, reasons };
}
