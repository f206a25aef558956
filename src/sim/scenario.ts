/**
 * Scenario files: YAML describing a simulated cloud (hosts, flavors,
 * projects with quotas and users, networks). Validation errors name the field.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

export interface ScenarioHost {
  name: string;
  az?: string;
  vcpus: number;
  memory_mb: number;
  disk_gb: number;
  cpu_allocation_ratio?: number;
  ram_allocation_ratio?: number;
  disk_allocation_ratio?: number;
  reserved_host_cpus?: number;
  reserved_host_memory_mb?: number;
  reserved_host_disk_gb?: number;
  /** Virt node name (Placement provider name); defaults to the host name. */
  hypervisor_hostname?: string;
  state?: 'up' | 'down';
  status?: 'enabled' | 'disabled';
}

export interface ScenarioFlavor {
  id?: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral?: number;
  swap?: number;
  description?: string;
  extra_specs?: Record<string, string>;
}

export interface ScenarioAppCred {
  id?: string;
  name: string;
  secret: string;
}

export interface ScenarioUser {
  name: string;
  password: string;
  roles?: string[];
  application_credentials?: ScenarioAppCred[];
}

export interface ScenarioQuotas {
  instances?: number;
  cores?: number;
  ram?: number;
}

export interface ScenarioProject {
  name: string;
  id?: string;
  quotas?: ScenarioQuotas;
  users?: ScenarioUser[];
}

export interface ScenarioNetwork {
  name: string;
  cidr: string;
  shared?: boolean;
  project?: string;
}

export interface ScenarioObject {
  region?: string;
  domain?: string;
  hosts: ScenarioHost[];
  flavors: ScenarioFlavor[];
  projects: ScenarioProject[];
  networks?: ScenarioNetwork[];
}

export class ScenarioError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`scenario: ${field}: ${message}`);
    this.name = 'ScenarioError';
  }
}

export const DEFAULT_SCENARIO_PATH = path.join(import.meta.dirname, 'scenarios', 'thesis.yaml');

/** A built-in scenario by name (`thesis`), or a YAML path as given. */
export function scenarioPath(nameOrPath: string): string {
  return /^[a-z][a-z0-9-]*$/.test(nameOrPath) ? path.join(import.meta.dirname, 'scenarios', `${nameOrPath}.yaml`) : nameOrPath;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, field: string): Obj {
  if (!isObj(v)) throw new ScenarioError(field, 'must be a mapping');
  return v;
}

function list(v: unknown, field: string, required: boolean): unknown[] {
  if (v === undefined && !required) return [];
  if (!Array.isArray(v)) throw new ScenarioError(field, 'must be a list');
  return v;
}

function str(o: Obj, key: string, field: string): string {
  const v = o[key];
  if (typeof v !== 'string' || v === '') throw new ScenarioError(`${field}.${key}`, 'must be a non-empty string');
  return v;
}

function optStr(o: Obj, key: string, field: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key, field);
}

function num(o: Obj, key: string, field: string, opts: { int?: boolean; min?: number } = {}): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ScenarioError(`${field}.${key}`, 'must be a number');
  if (opts.int === true && !Number.isInteger(v)) throw new ScenarioError(`${field}.${key}`, 'must be an integer');
  if (opts.min !== undefined && v < opts.min) throw new ScenarioError(`${field}.${key}`, `must be >= ${opts.min}`);
  return v;
}

function optNum(o: Obj, key: string, field: string, opts: { int?: boolean; min?: number } = {}): number | undefined {
  return o[key] === undefined ? undefined : num(o, key, field, opts);
}

function checkKeys(o: Obj, allowed: readonly string[], field: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ScenarioError(`${field}.${k}`, `unknown field (allowed: ${allowed.join(', ')})`);
  }
}

function assign<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/** Validates a parsed scenario; throws ScenarioError naming the offending field. */
export function validateScenario(input: unknown): ScenarioObject {
  const root = obj(input, '(root)');
  checkKeys(root, ['region', 'domain', 'hosts', 'flavors', 'projects', 'networks'], '(root)');
  const out: ScenarioObject = { hosts: [], flavors: [], projects: [], networks: [] };
  assign(out, 'region', optStr(root, 'region', '(root)'));
  assign(out, 'domain', optStr(root, 'domain', '(root)'));

  const hostNames = new Set<string>();
  list(root.hosts, 'hosts', true).forEach((raw, i) => {
    const f = `hosts[${i}]`;
    const h = obj(raw, f);
    checkKeys(
      h,
      ['name', 'az', 'vcpus', 'memory_mb', 'disk_gb', 'cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio', 'reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_gb', 'hypervisor_hostname', 'state', 'status'],
      f,
    );
    const host: ScenarioHost = {
      name: str(h, 'name', f),
      vcpus: num(h, 'vcpus', f, { int: true, min: 1 }),
      memory_mb: num(h, 'memory_mb', f, { int: true, min: 1 }),
      disk_gb: num(h, 'disk_gb', f, { int: true, min: 1 }),
    };
    if (hostNames.has(host.name)) throw new ScenarioError(`${f}.name`, `duplicate host "${host.name}"`);
    hostNames.add(host.name);
    assign(host, 'az', optStr(h, 'az', f));
    for (const k of ['cpu_allocation_ratio', 'ram_allocation_ratio', 'disk_allocation_ratio'] as const) assign(host, k, optNum(h, k, f, { min: 0 }));
    for (const k of ['reserved_host_cpus', 'reserved_host_memory_mb', 'reserved_host_disk_gb'] as const) assign(host, k, optNum(h, k, f, { int: true, min: 0 }));
    assign(host, 'hypervisor_hostname', optStr(h, 'hypervisor_hostname', f));
    const state = optStr(h, 'state', f);
    if (state !== undefined && state !== 'up' && state !== 'down') throw new ScenarioError(`${f}.state`, 'must be "up" or "down"');
    assign(host, 'state', state);
    const status = optStr(h, 'status', f);
    if (status !== undefined && status !== 'enabled' && status !== 'disabled') throw new ScenarioError(`${f}.status`, 'must be "enabled" or "disabled"');
    assign(host, 'status', status);
    out.hosts.push(host);
  });
  if (out.hosts.length === 0) throw new ScenarioError('hosts', 'needs at least one host');

  list(root.flavors, 'flavors', true).forEach((raw, i) => {
    const f = `flavors[${i}]`;
    const o = obj(raw, f);
    checkKeys(o, ['id', 'name', 'vcpus', 'ram', 'disk', 'ephemeral', 'swap', 'description', 'extra_specs'], f);
    const flavor: ScenarioFlavor = { name: str(o, 'name', f), vcpus: num(o, 'vcpus', f, { int: true, min: 1 }), ram: num(o, 'ram', f, { int: true, min: 1 }), disk: num(o, 'disk', f, { int: true, min: 0 }) };
    if (o.id !== undefined) flavor.id = typeof o.id === 'number' ? String(o.id) : str(o, 'id', f);
    assign(flavor, 'ephemeral', optNum(o, 'ephemeral', f, { int: true, min: 0 }));
    assign(flavor, 'swap', optNum(o, 'swap', f, { int: true, min: 0 }));
    assign(flavor, 'description', optStr(o, 'description', f));
    if (o.extra_specs !== undefined) {
      const specs = obj(o.extra_specs, `${f}.extra_specs`);
      for (const [k, v] of Object.entries(specs)) if (typeof v !== 'string') throw new ScenarioError(`${f}.extra_specs.${k}`, 'must be a string');
      flavor.extra_specs = specs as Record<string, string>;
    }
    out.flavors.push(flavor);
  });

  const projectNames = new Set<string>();
  const passwords = new Map<string, string>();
  list(root.projects, 'projects', true).forEach((raw, i) => {
    const f = `projects[${i}]`;
    const o = obj(raw, f);
    checkKeys(o, ['name', 'id', 'quotas', 'users'], f);
    const project: ScenarioProject = { name: str(o, 'name', f), users: [] };
    if (projectNames.has(project.name)) throw new ScenarioError(`${f}.name`, `duplicate project "${project.name}"`);
    projectNames.add(project.name);
    assign(project, 'id', optStr(o, 'id', f));
    if (o.quotas !== undefined) {
      const q = obj(o.quotas, `${f}.quotas`);
      checkKeys(q, ['instances', 'cores', 'ram'], `${f}.quotas`);
      const quotas: ScenarioQuotas = {};
      for (const k of ['instances', 'cores', 'ram'] as const) assign(quotas, k, optNum(q, k, `${f}.quotas`, { int: true, min: -1 }));
      project.quotas = quotas;
    }
    list(o.users, `${f}.users`, false).forEach((rawU, j) => {
      const fu = `${f}.users[${j}]`;
      const u = obj(rawU, fu);
      checkKeys(u, ['name', 'password', 'roles', 'application_credentials'], fu);
      const user: ScenarioUser = { name: str(u, 'name', fu), password: str(u, 'password', fu) };
      const known = passwords.get(user.name);
      if (known !== undefined && known !== user.password) throw new ScenarioError(`${fu}.password`, `user "${user.name}" has a different password in another project`);
      passwords.set(user.name, user.password);
      if (u.roles !== undefined) {
        user.roles = list(u.roles, `${fu}.roles`, true).map((r, k) => {
          if (typeof r !== 'string') throw new ScenarioError(`${fu}.roles[${k}]`, 'must be a string');
          return r;
        });
      }
      if (u.application_credentials !== undefined) {
        user.application_credentials = list(u.application_credentials, `${fu}.application_credentials`, true).map((rawA, k) => {
          const fa = `${fu}.application_credentials[${k}]`;
          const a = obj(rawA, fa);
          checkKeys(a, ['id', 'name', 'secret'], fa);
          const cred: ScenarioAppCred = { name: str(a, 'name', fa), secret: str(a, 'secret', fa) };
          assign(cred, 'id', optStr(a, 'id', fa));
          return cred;
        });
      }
      project.users?.push(user);
    });
    out.projects.push(project);
  });
  if (out.projects.length === 0) throw new ScenarioError('projects', 'needs at least one project');

  list(root.networks, 'networks', false).forEach((raw, i) => {
    const f = `networks[${i}]`;
    const o = obj(raw, f);
    checkKeys(o, ['name', 'cidr', 'shared', 'project'], f);
    const net: ScenarioNetwork = { name: str(o, 'name', f), cidr: str(o, 'cidr', f) };
    if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(net.cidr)) throw new ScenarioError(`${f}.cidr`, 'must be an IPv4 CIDR like 10.0.0.0/24');
    if (o.shared !== undefined) {
      if (typeof o.shared !== 'boolean') throw new ScenarioError(`${f}.shared`, 'must be a boolean');
      net.shared = o.shared;
    }
    const project = optStr(o, 'project', f);
    if (project !== undefined && !projectNames.has(project)) throw new ScenarioError(`${f}.project`, `unknown project "${project}"`);
    assign(net, 'project', project);
    out.networks?.push(net);
  });
  return out;
}

/** Loads and validates a scenario from a YAML file (default: the thesis testbed). */
export function loadScenario(source: string | ScenarioObject = DEFAULT_SCENARIO_PATH): ScenarioObject {
  if (typeof source !== 'string') return validateScenario(source);
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(source, 'utf8'));
  } catch (err) {
    throw new ScenarioError('(file)', `cannot read ${source}: ${(err as Error).message}`);
  }
  return validateScenario(parsed);
}
