/**
 * HOT rendering: one Neutron port per unit and network, a floating IP where
 * the network has a `public_net`, and one Nova server per unit pinned with
 * `availability_zone: <az>:<host>` when the placement chose a host.
 *
 * Requirements become `str_replace` on the user data: `$BROKER_IP` is
 * replaced by `get_attr` of the source unit's port (`private_ip`) or floating
 * IP (`public_ip`). A source service instance with several units offers only
 * its first unit (`<source>-1`), as one address per placeholder is all a
 * shell line can take; the thesis's brokers and controllers are single units.
 */
import { stringify } from 'yaml';
import type { NetworkSpec, Topology, Unit } from './types.ts';

export interface RenderOptions {
  /** Unit id → compute host, or null to let Nova choose. Every unit must be listed. */
  assignments: Readonly<Record<string, string | null>>;
  /** Zone of the pinned hosts, and of unpinned units when given. Pinned units default to `nova`. */
  availabilityZone?: string;
  stackName: string;
}

export interface RenderedTemplate {
  template: Record<string, unknown>;
  yaml: string;
}

/** Heat forbids only "/" in resource names; we keep to characters every tool copes with. */
export function heatResourceName(raw: string): string {
  const cleaned = raw.replace(/[^A-Za-z0-9_.-]/g, '_');
  return /^[A-Za-z]/.test(cleaned) ? cleaned : `r_${cleaned}`;
}

export const portResource = (unit: string, network: string): string => heatResourceName(`${unit}-port-${network}`);
export const floatingIpResource = (unit: string, network: string): string => heatResourceName(`${unit}-fip-${network}`);
export const serverResource = (unit: string): string => heatResourceName(unit);

export function renderHeatTemplate(topology: Topology, options: RenderOptions): RenderedTemplate {
  const known = new Set(topology.units.map((u) => u.id));
  const missing = topology.units.filter((u) => !(u.id in options.assignments)).map((u) => u.id);
  const extra = Object.keys(options.assignments).filter((id) => !known.has(id));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [missing.length > 0 ? `no assignment for ${missing.join(', ')}` : '', extra.length > 0 ? `unknown units ${extra.join(', ')}` : ''].filter((p) => p !== '');
    throw new Error(`renderHeatTemplate: ${parts.join('; ')}`);
  }
  const siByName = new Map(topology.serviceInstances.map((si) => [si.name, si]));
  const firstUnit = new Map<string, Unit>();
  for (const u of topology.units) if (!firstUnit.has(u.serviceInstance)) firstUnit.set(u.serviceInstance, u);

  const resources: Record<string, unknown> = {};
  const outputs: Record<string, unknown> = {};
  const used = new Set<string>();
  const claim = (name: string): string => {
    // Two raw names can sanitise to the same one ("a b" and "a_b"); keep both.
    let n = name;
    for (let i = 2; used.has(n); i += 1) n = `${name}_${String(i)}`;
    used.add(n);
    return n;
  };
  const portNames = new Map<string, string>();
  const fipNames = new Map<string, string>();
  for (const unit of topology.units) {
    const si = siByName.get(unit.serviceInstance);
    if (!si) continue;
    for (const net of si.networks) {
      portNames.set(`${unit.id}\u0000${net.name}`, claim(portResource(unit.id, net.name)));
      if (net.publicNet !== null) fipNames.set(`${unit.id}\u0000${net.name}`, claim(floatingIpResource(unit.id, net.name)));
    }
  }

  for (const unit of topology.units) {
    const si = siByName.get(unit.serviceInstance);
    if (!si) continue;
    const ports: string[] = [];
    for (const net of si.networks) {
      const portName = portNames.get(`${unit.id}\u0000${net.name}`) ?? '';
      ports.push(portName);
      resources[portName] = { type: 'OS::Neutron::Port', properties: portProperties(net) };
      const fipName = fipNames.get(`${unit.id}\u0000${net.name}`);
      if (fipName !== undefined) {
        resources[fipName] = { type: 'OS::Neutron::FloatingIP', properties: { floating_network: net.publicNet, port_id: { get_resource: portName } } };
        outputs[heatResourceName(`${unit.id}-public-ip-${net.name}`)] = {
          description: `Floating IP of ${unit.id} on ${net.name}`,
          value: { get_attr: [fipName, 'floating_ip_address'] },
        };
      }
    }

    const host = options.assignments[unit.id] ?? null;
    const zone = host !== null ? `${options.availabilityZone ?? 'nova'}:${host}` : options.availabilityZone;
    const props: Record<string, unknown> = {
      name: unit.id,
      flavor: si.flavor,
      image: si.image,
      ...(si.key === null ? {} : { key_name: si.key }),
      ...(zone === undefined ? {} : { availability_zone: zone }),
      networks: ports.map((p) => ({ port: { get_resource: p } })),
      metadata: { cm_topology: topology.name, cm_unit: unit.id, cm_service_instance: si.name },
    };
    if (si.userData.length > 0) {
      const text = `${si.userData.join('\n')}\n`;
      const params: Record<string, unknown> = {};
      for (const r of si.requirements) {
        const src = firstUnit.get(r.source);
        if (!src) continue;
        const key = `${src.id}\u0000${r.objName}`;
        if (r.parameter === 'public_ip') {
          const fip = fipNames.get(key);
          if (fip !== undefined) params[r.name] = { get_attr: [fip, 'floating_ip_address'] };
        } else {
          const port = portNames.get(key);
          if (port !== undefined) params[r.name] = { get_attr: [port, 'fixed_ips', 0, 'ip_address'] };
        }
      }
      props.user_data_format = 'RAW';
      props.user_data = Object.keys(params).length > 0 ? { str_replace: { template: text, params } } : text;
    }
    const serverName = claim(serverResource(unit.id));
    resources[serverName] = { type: 'OS::Nova::Server', properties: props };
    outputs[heatResourceName(`${unit.id}-id`)] = { description: `Nova server id of ${unit.id}`, value: { get_resource: serverName } };
    const firstPort = ports[0];
    if (firstPort !== undefined) {
      outputs[heatResourceName(`${unit.id}-private-ip`)] = {
        description: `Private IP of ${unit.id} on ${si.networks[0]?.name ?? ''}`,
        value: { get_attr: [firstPort, 'fixed_ips', 0, 'ip_address'] },
      };
    }
  }

  const template: Record<string, unknown> = {
    heat_template_version: '2018-08-31',
    description: `Connectivity Manager topology ${topology.name} (stack ${options.stackName})`,
    resources,
    outputs,
  };
  return { template, yaml: stringify(template, { lineWidth: 0 }) };
}

function portProperties(net: NetworkSpec): Record<string, unknown> {
  return {
    network: net.privateNet,
    fixed_ips: [{ subnet: net.privateSubnet }],
    ...(net.securityGroups.length > 0 ? { security_groups: [...net.securityGroups] } : {}),
  };
}

export interface StackCreateBody {
  stack_name: string;
  template: Record<string, unknown>;
  disable_rollback: true;
  timeout_mins?: number;
  tags?: string;
}

/**
 * The body of `POST /v1/{project}/stacks`. `disable_rollback: true` is sent
 * explicitly rather than left to Heat's default: a failed create keeps its
 * resources, so the failure can be diagnosed from the resources and events
 * (e.g. which unit found no valid host), and the manager deletes the stack
 * itself afterwards. A rollback would erase exactly that evidence.
 */
export function stackCreateRequest(topology: Topology, options: RenderOptions & { timeoutMins?: number; tags?: readonly string[] }): StackCreateBody {
  const { template } = renderHeatTemplate(topology, options);
  return {
    stack_name: options.stackName,
    template,
    disable_rollback: true,
    ...(options.timeoutMins === undefined ? {} : { timeout_mins: options.timeoutMins }),
    ...(options.tags && options.tags.length > 0 ? { tags: options.tags.join(',') } : {}),
  };
}
