/**
 * The agent's Prometheus metrics, on a registry of its own (never the global
 * one, so several apps in one process — tests — do not collide).
 *
 * Reconciler figures are read at scrape time from the reconcilers' cumulative
 * counters (`collect()`), so nothing here has to be told about every pass.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { HostGuaranteeView, RoundStats, VmGuaranteeView } from './guarantees/view.ts';

/** The cumulative per-host counters a reconciler keeps (a `HostReconciler.metrics` fits). */
export interface ReconcilerCounters {
  readonly passes: number;
  readonly lastPassMs: number;
  readonly repairs: number;
  readonly driftDetected: number;
  readonly orphansDeleted: number;
  readonly errors: number;
  readonly connected: boolean;
  readonly transactions: number;
  /** Drifts of our rows attributed to another writer (see drift.ts `ForeignWriter`), by writer. */
  readonly foreignWrites: ReadonlyMap<string, number>;
}

export type PortStateName = 'applied' | 'pending' | 'drifted' | 'error';
export const PORT_STATES: readonly PortStateName[] = ['applied', 'pending', 'drifted', 'error'];
/**
 * A server's SLA state as `GET /v1/sla` reports it: its ports' worst state, or `orphaned`
 * while the server is missing from the cloud inventory and its SLA waits out the grace period.
 */
export type SlaStateName = PortStateName | 'orphaned';
export const SLA_STATES: readonly SlaStateName[] = [...PORT_STATES, 'orphaned'];

export interface MetricsSources {
  /** Counters per host. */
  reconcilerMetrics(): ReadonlyMap<string, ReconcilerCounters>;
  /** Pass durations (ms) per host since the previous call. */
  drainPassDurations(): ReadonlyMap<string, readonly number[]>;
  /** Enforced ports by state; `contestedBy` names another writer fighting over the port. */
  /** Hosts with an OpenFlow endpoint and whether it is connected (hosts without one are absent). */
  openflowStates?(): readonly { host: string; openflow?: 'connected' | 'disconnected' }[];
  portStates(): readonly {
    state: PortStateName;
    contestedBy?: string;
    host?: string;
    serverId?: string;
    portId?: string;
    observed?: { downloadBps: number; uploadBps: number };
    upload?: { mechanism: string };
  }[];
  /**
   * Servers with a stored SLA by the state `GET /v1/sla` reports for them (its `summary`,
   * computed by the same function); undefined when it cannot be read now (no series then).
   */
  slaStates?(): Promise<Readonly<Record<string, number>> | undefined>;
  /** Stored SLAs of servers gone from the cloud that this agent removed. */
  slaOrphansRemoved?(): number;
  /** Export one observed-rate series per port (off for very large clouds). @default true */
  perPortRates?: boolean;
  /** Seconds since the inventory snapshot was read, or undefined without one. */
  inventoryAgeSeconds(): number | undefined;
  inventoryStale(): boolean;
  /** With several agent replicas: this one's id, the hosts it owns, the live set, its lease. */
  cluster?: {
    readonly agentId: string;
    owned(): readonly string[];
    members(): readonly string[];
    writable(): boolean;
  };
  /** The guaranteed-rate controller, when it runs. */
  guarantees?: {
    vmViews(): readonly VmGuaranteeView[];
    hosts(): readonly HostGuaranteeView[];
    readonly stats: Readonly<RoundStats>;
  };
}

export interface AgentMetrics {
  registry: Registry;
}

function setCounter(counter: Counter<'host'>, values: ReadonlyMap<string, ReconcilerCounters>, pick: (m: ReconcilerCounters) => number): void {
  counter.reset();
  for (const [host, m] of values) {
    counter.inc({ host }, Math.max(0, pick(m)));
  }
}

export function createAgentMetrics(sources: MetricsSources): AgentMetrics {
  const registry = new Registry();

  const counter = (name: string, help: string, pick: (m: ReconcilerCounters) => number): void => {
    new Counter({
      name,
      help,
      labelNames: ['host'] as const,
      registers: [registry],
      collect(this: Counter<'host'>) {
        setCounter(this, sources.reconcilerMetrics(), pick);
      },
    });
  };
  counter('cm_agent_reconcile_passes_total', 'Reconcile passes run, per host', (m) => m.passes);
  counter('cm_agent_drift_detected_total', 'Passes that found one of our ports changed by someone else, per host', (m) => m.driftDetected);
  counter('cm_agent_drift_repairs_total', 'Drifted ports rewritten successfully, per host', (m) => m.repairs);
  counter('cm_agent_reconcile_errors_total', 'Failed reconcile passes or OVSDB calls, per host', (m) => m.errors);
  counter('cm_agent_orphans_deleted_total', 'Orphaned QoS/Queue rows we owned and deleted, per host', (m) => m.orphansDeleted);
  counter('cm_agent_ovsdb_transactions_total', 'OVSDB transactions sent by the reconciler, per host', (m) => m.transactions);

  new Counter({
    name: 'cm_agent_foreign_writes_total',
    help: "Changes to our OVSDB rows made by another writer, per host and writer (neutron-openvswitch-agent, ovn-controller, opendaylight, unknown)",
    labelNames: ['host', 'writer'] as const,
    registers: [registry],
    collect(this: Counter<'host' | 'writer'>) {
      this.reset();
      for (const [host, m] of sources.reconcilerMetrics()) {
        for (const [writer, n] of m.foreignWrites) this.inc({ host, writer }, n);
      }
    },
  });
  const cluster = sources.cluster;
  if (cluster) {
    new Gauge({
      name: 'cm_agent_host_owned',
      help: 'Hosts this agent replica owns (writes and watches) now: 1 per host, labelled with the replica',
      labelNames: ['host', 'agent_id'] as const,
      registers: [registry],
      collect(this: Gauge<'host' | 'agent_id'>) {
        this.reset();
        for (const host of cluster.owned()) this.set({ host, agent_id: cluster.agentId }, 1);
      },
    });
    new Gauge({
      name: 'cm_agent_cluster_members',
      help: 'Live agent replicas as this one last saw them (itself included)',
      registers: [registry],
      collect(this: Gauge) {
        this.set(cluster.members().length);
      },
    });
    new Gauge({
      name: 'cm_agent_cluster_lease_current',
      help: '1 while this replica holds a current lease (it may write its hosts), else 0',
      registers: [registry],
      collect(this: Gauge) {
        this.set(cluster.writable() ? 1 : 0);
      },
    });
  }

  new Gauge({
    name: 'cm_agent_contested_ports',
    help: 'Ports whose SLA cannot be kept because another writer keeps rewriting them or owns their QoS, by writer',
    labelNames: ['writer'] as const,
    registers: [registry],
    collect(this: Gauge<'writer'>) {
      this.reset();
      const counts = new Map<string, number>();
      for (const p of sources.portStates()) {
        if (p.contestedBy !== undefined) counts.set(p.contestedBy, (counts.get(p.contestedBy) ?? 0) + 1);
      }
      for (const [writer, n] of counts) this.set({ writer }, n);
    },
  });

  new Histogram({
    name: 'cm_agent_reconcile_duration_seconds',
    help: 'Reconcile pass durations, per host',
    labelNames: ['host'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
    collect(this: Histogram<'host'>) {
      // Each pass is observed exactly once: the reconcilers hand over what they timed since the last scrape.
      for (const [host, durations] of sources.drainPassDurations()) {
        for (const ms of durations) this.observe({ host }, ms / 1000);
      }
    },
  });

  /** A gauge per host whose values are read at scrape time (hosts absent from `values` have no series). */
  const hostGauge = (name: string, help: string, values: () => Iterable<readonly [string, number]>): void => {
    new Gauge({
      name,
      help,
      labelNames: ['host'] as const,
      registers: [registry],
      collect(this: Gauge<'host'>) {
        this.reset();
        for (const [host, v] of values()) this.set({ host }, v);
      },
    });
  };
  hostGauge('cm_agent_reconcile_last_pass_duration_seconds', 'Duration of the latest reconcile pass, per host', () =>
    [...sources.reconcilerMetrics()].map(([host, m]) => [host, m.lastPassMs / 1000] as const),
  );
  hostGauge('cm_agent_ovsdb_connected', '1 when the host OVSDB connection is up, 0 otherwise', () =>
    [...sources.reconcilerMetrics()].map(([host, m]) => [host, m.connected ? 1 : 0] as const),
  );
  hostGauge(
    'cm_agent_openflow_connected',
    "1 when the host's OpenFlow connection (meters, pair limiters, live rates) is up, 0 otherwise; absent for hosts without an OpenFlow endpoint",
    () => (sources.openflowStates?.() ?? []).flatMap((h) => (h.openflow === undefined ? [] : [[h.host, h.openflow === 'connected' ? 1 : 0] as const])),
  );
  new Gauge({
    name: 'cm_agent_ports',
    help: 'Ports with a desired SLA, by enforcement state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect(this: Gauge<'state'>) {
      const counts = new Map<PortStateName, number>(PORT_STATES.map((s) => [s, 0]));
      for (const p of sources.portStates()) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
      for (const [state, n] of counts) this.set({ state }, n);
    },
  });
  if (sources.slaStates) {
    const slaStates = (): Promise<Readonly<Record<string, number>> | undefined> => sources.slaStates?.() ?? Promise.resolve(undefined);
    new Gauge({
      name: 'cm_agent_slas',
      help: 'Servers with a stored SLA by the state GET /v1/sla reports (its summary): applied, pending, drifted, error, orphaned',
      labelNames: ['state'] as const,
      registers: [registry],
      async collect(this: Gauge<'state'>) {
        this.reset();
        const counts = await slaStates().catch(() => undefined);
        if (!counts) return;
        for (const state of SLA_STATES) this.set({ state }, counts[state] ?? 0);
      },
    });
  }
  if (sources.slaOrphansRemoved) {
    const orphansRemoved = (): number => sources.slaOrphansRemoved?.() ?? 0;
    new Counter({
      name: 'cm_agent_sla_orphans_removed_total',
      help: 'Stored SLAs deleted because their server was absent from the cloud inventory longer than sla.orphan_grace_ms',
      registers: [registry],
      collect(this: Counter) {
        this.reset();
        this.inc(orphansRemoved());
      },
    });
  }
  if (sources.perPortRates !== false) {
    new Gauge({
      name: 'cm_agent_port_observed_bits_per_second',
      help: "Rate the switch counts on a VM's port over the latest sample interval, in the VM's directions (download: sent to the VM; upload: received from it)",
      labelNames: ['host', 'server_id', 'port_id', 'direction'] as const,
      registers: [registry],
      collect(this: Gauge<'host' | 'server_id' | 'port_id' | 'direction'>) {
        this.reset();
        for (const p of sources.portStates()) {
          if (!p.observed || p.host === undefined || p.portId === undefined) continue;
          const labels = { host: p.host, server_id: p.serverId ?? '', port_id: p.portId };
          this.set({ ...labels, direction: 'download' }, p.observed.downloadBps);
          this.set({ ...labels, direction: 'upload' }, p.observed.uploadBps);
        }
      },
    });
  }
  new Gauge({
    name: 'cm_agent_upload_mechanism_ports',
    help: 'Ports with a desired SLA by how their host caps uploads (meter, policing, undecided)',
    labelNames: ['mechanism'] as const,
    registers: [registry],
    collect(this: Gauge<'mechanism'>) {
      this.reset();
      const counts = new Map<string, number>();
      for (const p of sources.portStates()) if (p.upload) counts.set(p.upload.mechanism, (counts.get(p.upload.mechanism) ?? 0) + 1);
      for (const [mechanism, n] of counts) this.set({ mechanism }, n);
    },
  });
  new Gauge({
    name: 'cm_agent_inventory_age_seconds',
    help: 'Age of the cloud inventory snapshot (absent before the first one)',
    registers: [registry],
    collect(this: Gauge) {
      this.reset();
      const age = sources.inventoryAgeSeconds();
      if (age !== undefined) this.set(age);
    },
  });
  new Gauge({
    name: 'cm_agent_inventory_stale',
    help: '1 when the latest inventory refresh failed and older data is served',
    registers: [registry],
    collect(this: Gauge) {
      this.set(sources.inventoryStale() ? 1 : 0);
    },
  });
  const g = sources.guarantees;
  if (g) addGuaranteeMetrics(registry, g);
  return { registry };
}

function addGuaranteeMetrics(registry: Registry, g: NonNullable<MetricsSources['guarantees']>): void {
  new Counter({
    name: 'cm_agent_guarantee_violation_seconds_total',
    help: 'Seconds in which a VM wanted at least its guaranteed rate and got less than 95 % of it, per VM and direction',
    labelNames: ['server_id', 'direction'] as const,
    registers: [registry],
    collect(this: Counter<'server_id' | 'direction'>) {
      this.reset();
      for (const vm of g.vmViews()) {
        if (vm.download) this.inc({ server_id: vm.serverId, direction: 'download' }, vm.download.violationSeconds);
        if (vm.upload) this.inc({ server_id: vm.serverId, direction: 'upload' }, vm.upload.violationSeconds);
      }
    },
  });
  new Gauge({
    name: 'cm_agent_guarantee_allocated_bits_per_second',
    help: 'Rate the controller gives a VM\'s active pairs now, per VM and direction (compare with its guarantee)',
    labelNames: ['server_id', 'direction'] as const,
    registers: [registry],
    collect(this: Gauge<'server_id' | 'direction'>) {
      this.reset();
      for (const vm of g.vmViews()) {
        if (vm.download) this.set({ server_id: vm.serverId, direction: 'download' }, vm.download.allocatedBps);
        if (vm.upload) this.set({ server_id: vm.serverId, direction: 'upload' }, vm.upload.allocatedBps);
      }
    },
  });
  new Gauge({
    name: 'cm_agent_host_uplink_bits_per_second',
    help: 'Uplink capacity the controller uses for a host (enforcement.guarantees.uplink/uplinks)',
    labelNames: ['host'] as const,
    registers: [registry],
    collect(this: Gauge<'host'>) {
      this.reset();
      for (const h of g.hosts()) if (h.uplink) this.set({ host: h.host }, h.uplink.bps);
    },
  });
  new Gauge({
    name: 'cm_agent_host_guaranteed_bits_per_second',
    help: 'Sum of the guarantees of the VMs on a host, per direction (the hose admission compares it with the uplink)',
    labelNames: ['host', 'direction'] as const,
    registers: [registry],
    collect(this: Gauge<'host' | 'direction'>) {
      this.reset();
      for (const h of g.hosts()) {
        this.set({ host: h.host, direction: 'download' }, h.guaranteedDownloadBps);
        this.set({ host: h.host, direction: 'upload' }, h.guaranteedUploadBps);
      }
    },
  });
  new Gauge({
    name: 'cm_agent_host_guarantees_overcommitted',
    help: '1 when a host\'s guarantees exceed its uplink (some cannot hold if all are wanted across hosts)',
    labelNames: ['host'] as const,
    registers: [registry],
    collect(this: Gauge<'host'>) {
      this.reset();
      for (const h of g.hosts()) this.set({ host: h.host }, h.overcommitted === null ? 0 : 1);
    },
  });
  new Counter({
    name: 'cm_agent_guarantee_rounds_total',
    help: 'Rounds the guaranteed-rate controller ran',
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(g.stats.rounds);
    },
  });
  new Counter({
    name: 'cm_agent_guarantee_cpu_seconds_total',
    help: 'CPU time (user + system) the controller rounds used',
    registers: [registry],
    collect(this: Counter) {
      this.reset();
      this.inc(g.stats.cpuMicros / 1e6);
    },
  });
  new Gauge({
    name: 'cm_agent_guarantee_round_seconds',
    help: 'Duration of the latest controller round',
    registers: [registry],
    collect(this: Gauge) {
      this.set(g.stats.lastRoundMs / 1000);
    },
  });
  new Gauge({
    name: 'cm_agent_guarantee_pairs',
    help: 'VM pairs the controller limits, all and active (sending) ones',
    labelNames: ['state'] as const,
    registers: [registry],
    collect(this: Gauge<'state'>) {
      this.set({ state: 'all' }, g.stats.pairs);
      this.set({ state: 'active' }, g.stats.activePairs);
    },
  });
}
