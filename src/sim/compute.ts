/**
 * Booting and deleting servers: quota admission, a small scheduler
 * (forced host, AZ, up/enabled, Placement capacity), allocation claims,
 * Neutron port binding, hypervisor plug/unplug and the BUILD → ACTIVE/ERROR
 * transition. Shared by the Nova API and the Heat engine.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { ApiError } from './http.ts';
import type { HypervisorHook } from './hypervisor.ts';
import { NOVA_TIME, type SimHost, type SimPort, type SimServer, type SimState } from './state.ts';

export const NO_VALID_HOST = 'No valid host was found. There are not enough hosts available.';

export interface BootRequest {
  name: string;
  flavorRef: string;
  imageRef?: string;
  projectId: string;
  userId: string;
  isAdmin: boolean;
  availabilityZone?: string;
  /** undefined / 'auto' = the project's one network; 'none' = no port. */
  networks?: 'auto' | 'none' | { uuid?: string; port?: string }[];
  metadata?: Record<string, string>;
  userData?: string;
  keyName?: string;
}

export class Compute {
  private closed = false;
  private readonly pending = new Set<Promise<unknown>>();

  constructor(
    private readonly state: SimState,
    private readonly hook: HypervisorHook,
    private readonly bootDelayMs: number,
  ) {}

  private track(p: Promise<unknown>): void {
    const wrapped = p.catch(() => undefined).finally(() => this.pending.delete(wrapped));
    this.pending.add(wrapped);
  }

  /** Waits for in-flight boots and deletes, and refuses new background work. */
  async close(): Promise<void> {
    this.closed = true;
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private flavor(ref: string) {
    const flavor = this.state.flavors.get(ref) ?? [...this.state.flavors.values()].find((f) => f.name === ref);
    if (!flavor) throw new ApiError(400, `Flavor ${ref} could not be found.`);
    return flavor;
  }

  /** Validates and admits the request, then schedules in the background. Returns the BUILD server. */
  boot(req: BootRequest): SimServer {
    const state = this.state;
    if (req.name.trim() === '') throw new ApiError(400, "Invalid input for field/attribute name. Value: ''. '' is too short");
    const flavor = this.flavor(req.flavorRef);

    // availability_zone: "az", "az:host", "az:host:node", ":host"
    let zone: string | null = null;
    let forcedHost: string | null = null;
    if (req.availabilityZone !== undefined && req.availabilityZone !== '') {
      const [az, host] = req.availabilityZone.split(':');
      zone = az === undefined || az === '' ? null : az;
      forcedHost = host === undefined || host === '' ? null : host;
      if (forcedHost !== null && !req.isAdmin) {
        throw new ApiError(403, "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed.");
      }
      if (zone !== null && ![...state.hosts.values()].some((h) => h.az === zone)) {
        throw new ApiError(400, 'The requested availability zone is not available');
      }
    }

    // Quotas (instances, cores, ram).
    const project = state.projects.get(req.projectId);
    if (project) {
      const used = state.quotaUsage(project.id);
      const wants = { instances: 1, cores: flavor.vcpus, ram: flavor.ram };
      const over = (['instances', 'cores', 'ram'] as const).filter((k) => project.quotas[k] >= 0 && used[k] + wants[k] > project.quotas[k]);
      if (over.length > 0) {
        const first = over[0] ?? 'instances';
        throw new ApiError(
          403,
          `Quota exceeded for ${over.join(', ')}: Requested ${wants[first]}, but already used ${used[first]} of ${project.quotas[first]} ${first}`,
        );
      }
    }

    // Networks and ports, resolved before anything is created.
    const requested: { networkId?: string; port?: SimPort }[] = [];
    if (Array.isArray(req.networks)) {
      for (const n of req.networks) {
        if (n.port !== undefined) {
          const port = state.ports.get(n.port);
          if (!port) throw new ApiError(400, `Port id ${n.port} could not be found.`);
          if (port.deviceId !== '') throw new ApiError(409, `Port ${n.port} is still in use.`);
          requested.push({ port });
        } else if (n.uuid !== undefined) {
          if (!state.networks.has(n.uuid)) throw new ApiError(400, `Network ${n.uuid} could not be found.`);
          requested.push({ networkId: n.uuid });
        } else {
          throw new ApiError(400, 'Bad networks format: network uuid or port is required.');
        }
      }
    } else if (req.networks !== 'none') {
      const visible = [...state.networks.values()].filter((n) => n.shared || n.projectId === req.projectId);
      if (visible.length > 1) throw new ApiError(409, 'Multiple possible networks found, use a Network ID to be more specific.');
      const only = visible[0];
      if (only) requested.push({ networkId: only.id });
    }

    const now = NOVA_TIME();
    const server: SimServer = {
      id: randomUUID(),
      name: req.name,
      projectId: req.projectId,
      userId: req.userId,
      flavor,
      imageId: req.imageRef ?? '',
      status: 'BUILD',
      vmState: 'building',
      taskState: 'scheduling',
      powerState: 0,
      host: null,
      hypervisorHostname: null,
      az: zone ?? '',
      requestedAz: zone,
      created: now,
      updated: now,
      launchedAt: null,
      fault: null,
      portIds: [],
      metadata: req.metadata ?? {},
      userData: req.userData ?? null,
      instanceIndex: state.nextInstanceIndex(),
      reservationId: `r-${randomBytes(4).toString('hex')}`,
      keyName: req.keyName ?? null,
    };
    state.servers.set(server.id, server);

    // Scheduling: claim synchronously so concurrent boots see each other's usage.
    const resources = { VCPU: flavor.vcpus, MEMORY_MB: flavor.ram, DISK_GB: flavor.disk + flavor.ephemeral + Math.ceil(flavor.swap / 1024) };
    let chosen: SimHost | undefined;
    if (forcedHost !== null) {
      // Forced host: filters are skipped, but the Placement claim must still succeed.
      const host = state.hosts.get(forcedHost);
      if (host && (zone === null || host.az === zone) && state.claim(host, server.id, req.projectId, req.userId, resources)) chosen = host;
    } else {
      const candidates = [...state.hosts.values()]
        .filter((h) => h.state === 'up' && h.status === 'enabled' && (zone === null || h.az === zone) && state.fits(h, resources))
        .sort((a, b) => {
          const freeA = a.memoryMb * a.ramRatio - a.reservedMemoryMb - (state.usages(a).MEMORY_MB ?? 0);
          const freeB = b.memoryMb * b.ramRatio - b.reservedMemoryMb - (state.usages(b).MEMORY_MB ?? 0);
          return freeB - freeA;
        });
      for (const h of candidates) {
        if (state.claim(h, server.id, req.projectId, req.userId, resources)) {
          chosen = h;
          break;
        }
      }
    }

    if (!chosen) {
      this.track(this.finishError(server, NO_VALID_HOST, 'Traceback: nova.exception.NoValidHost'));
      return server;
    }

    server.host = chosen.name;
    server.hypervisorHostname = chosen.hypervisorHostname;
    server.az = chosen.az;
    server.taskState = 'spawning';
    for (const r of requested) {
      let port = r.port;
      if (!port) {
        const net = state.networks.get(r.networkId ?? '');
        if (!net) continue;
        port = state.createPort(net, req.projectId, { createdByNova: true });
      }
      port.deviceId = server.id;
      port.deviceOwner = `compute:${chosen.az}`;
      port.hostId = chosen.name;
      port.vifType = 'ovs';
      port.status = 'DOWN';
      state.touchPort(port);
      server.portIds.push(port.id);
    }
    this.track(this.finishBoot(server, chosen));
    return server;
  }

  private async finishError(server: SimServer, message: string, details: string): Promise<void> {
    await delay(Math.min(this.bootDelayMs, 20));
    if (this.closed && server.status !== 'BUILD') return;
    server.status = 'ERROR';
    server.vmState = 'error';
    server.taskState = null;
    server.updated = NOVA_TIME();
    server.fault = { code: 500, message, details, created: NOVA_TIME() };
  }

  private async finishBoot(server: SimServer, host: SimHost): Promise<void> {
    await delay(this.bootDelayMs);
    if (server.status !== 'BUILD' || server.taskState === 'deleting') return;
    try {
      for (const portId of server.portIds) {
        const port = this.state.ports.get(portId);
        if (!port) continue;
        await this.hook.plug(host.name, server, port);
        port.status = 'ACTIVE';
        this.state.touchPort(port);
      }
    } catch (err) {
      this.state.release(server.id);
      server.status = 'ERROR';
      server.vmState = 'error';
      server.taskState = null;
      server.updated = NOVA_TIME();
      server.fault = { code: 500, message: `Build of instance ${server.id} aborted: ${(err as Error).message}`, details: '', created: NOVA_TIME() };
      return;
    }
    if (server.taskState === 'deleting') return;
    server.status = 'ACTIVE';
    server.vmState = 'active';
    server.taskState = null;
    server.powerState = 1;
    server.launchedAt = new Date().toISOString().replace('Z', '').replace(/(\.\d{3})$/, '$1000');
    server.updated = NOVA_TIME();
  }

  /** Starts deleting a server (Nova answers 204 at once); the returned promise resolves when it is gone. */
  delete(server: SimServer): Promise<void> {
    server.taskState = 'deleting';
    this.state.touchServer(server);
    const work = (async () => {
      await delay(1);
      const state = this.state;
      for (const portId of server.portIds) {
        const port = state.ports.get(portId);
        if (!port) continue;
        if (server.host !== null && port.status === 'ACTIVE') {
          try {
            await this.hook.unplug(server.host, server, port);
          } catch {
            // the host's switch is gone: nothing left to unplug
          }
        }
        if (port.createdByNova) {
          state.deletePort(port.id);
        } else {
          port.deviceId = '';
          port.deviceOwner = '';
          port.hostId = '';
          port.vifType = 'unbound';
          port.status = 'DOWN';
          state.touchPort(port);
        }
      }
      state.release(server.id);
      state.removeServer(server);
    })();
    this.track(work);
    return work;
  }

  /**
   * os-migrateLive to `dest` (Nova answers 202 at once). As Zed does it: the conductor moves
   * the instance's allocation on the source to a migration consumer (POST /allocations: the
   * source's generation moves) and the scheduler claims the destination for the instance
   * (PUT: the destination's moves); when the guest has moved, the port bindings follow it and
   * the migration's allocation is deleted (DELETE: no generation change, the source's freed
   * capacity shows only in its usages). Without room on the destination the migration fails
   * and the server stays where it was, ACTIVE. The returned promise resolves when it is done.
   */
  liveMigrate(server: SimServer, dest: SimHost): Promise<void> {
    const state = this.state;
    const source = server.host === null ? undefined : state.hosts.get(server.host);
    const alloc = state.allocations.get(server.id);
    if (server.status !== 'ACTIVE' || !source || !alloc) {
      throw new ApiError(409, `Cannot 'os-migrateLive' instance ${server.id} while it is in vm_state ${server.vmState}`);
    }
    const migrationId = randomUUID();
    server.status = 'MIGRATING';
    server.taskState = 'migrating';
    state.touchServer(server);
    state.release(server.id);
    state.setAllocation({ ...alloc, consumerId: migrationId });
    source.generation += 1;
    const claimed = state.claim(dest, server.id, alloc.projectId, alloc.userId, alloc.resources);
    const work = (async () => {
      await delay(this.bootDelayMs);
      if (!claimed) {
        state.release(migrationId);
        state.setAllocation(alloc);
        source.generation += 1;
      } else {
        for (const portId of server.portIds) {
          const port = state.ports.get(portId);
          if (!port) continue;
          try {
            await this.hook.unplug(source.name, server, port);
          } catch {
            // the source's switch is gone: nothing left to unplug
          }
          await this.hook.plug(dest.name, server, port);
          port.hostId = dest.name;
          port.deviceOwner = `compute:${dest.az}`;
          state.touchPort(port);
        }
        server.host = dest.name;
        server.hypervisorHostname = dest.hypervisorHostname;
        server.az = dest.az;
        state.release(migrationId);
      }
      server.status = 'ACTIVE';
      server.taskState = null;
      state.touchServer(server);
    })();
    this.track(work);
    return work;
  }
}
