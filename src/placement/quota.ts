import { formatCount } from './format.ts';
import type { InfeasibleReason, QuotaLine, TenantQuota } from './types.ts';
import type { Topology } from './topology.ts';

export interface QuotaCheck {
  reasons: InfeasibleReason[];
  /** One sentence for the plan's steps. */
  step: string;
}

function headroom(line: QuotaLine): number {
  return line.limit < 0 ? Infinity : line.limit - line.inUse;
}

/**
 * The tenant's own quota against the whole topology, as Nova will count it at
 * boot. The thesis compared the cloud's summed usage (all tenants) with the
 * tenant's limits; only the tenant's `in_use` matters here.
 */
export function checkQuota(topology: Topology, quota: TenantQuota | undefined): QuotaCheck {
  if (!quota) return { reasons: [], step: 'quota: not checked (no quota given)' };
  const lines = [
    { resource: 'instances' as const, label: 'instances', needed: topology.n, line: quota.instances },
    { resource: 'cores' as const, label: 'cores', needed: topology.total[0], line: quota.cores },
    { resource: 'ram' as const, label: 'MiB RAM', needed: topology.total[1], line: quota.ramMb },
  ];
  const reasons: InfeasibleReason[] = [];
  const parts: string[] = [];
  for (const { resource, label, needed, line } of lines) {
    const available = headroom(line);
    const limit = line.limit < 0 ? 'unlimited' : `limit ${formatCount(line.limit)}, ${formatCount(line.inUse)} in use`;
    parts.push(`${formatCount(needed)} ${label} (${limit})`);
    if (needed > available) {
      reasons.push({
        scope: 'quota',
        resource,
        subject: null,
        needed,
        available: Math.max(0, available),
        message: `quota ${resource}: the topology needs ${formatCount(needed)} ${label}, the tenant has ${formatCount(Math.max(0, available))} left (${limit})`,
      });
    }
  }
  const verdict = reasons.length === 0 ? 'within the tenant quota' : `over the tenant quota (${reasons.map((r) => r.resource).join(', ')})`;
  return { reasons, step: `quota: ${parts.join(', ')}: ${verdict}` };
}
