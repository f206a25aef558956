/**
 * Cloud configuration the way the OpenStack CLI reads it: a named cloud from
 * clouds.yaml (with secure.yaml merged over it), or OS_* variables. Pure:
 * the environment and the file reader are parameters.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { OpenStackConfigError } from './errors.ts';
import { isObject, type JsonObject } from './json.ts';

export type AuthType = 'password' | 'v3applicationcredential';
export type EndpointInterface = 'public' | 'internal' | 'admin';

export interface AuthConfig {
  authUrl: string;
  username?: string;
  userId?: string;
  password?: string;
  projectName?: string;
  projectId?: string;
  userDomainName?: string;
  userDomainId?: string;
  projectDomainName?: string;
  projectDomainId?: string;
  applicationCredentialId?: string;
  applicationCredentialName?: string;
  applicationCredentialSecret?: string;
}

export interface CloudConfig {
  /** The clouds.yaml entry name, or "envvars" for OS_* variables. */
  cloudName: string;
  authType: AuthType;
  auth: AuthConfig;
  regionName?: string;
  interface: EndpointInterface;
  /** Path of the CA bundle (OS_CACERT / cacert). */
  cacert?: string;
  insecure: boolean;
  /** Where the configuration came from (file path or "environment"), for messages. */
  source: string;
}

export interface ConfigIO {
  env: Readonly<Record<string, string | undefined>>;
  /** Returns the file's text, or undefined when it does not exist. */
  readFile: (file: string) => string | undefined;
  cwd: string;
  homedir: string;
}

export interface LoadOptions {
  /** Cloud name; defaults to OS_CLOUD. */
  cloud?: string;
}

/** The clouds.yaml (or secure.yaml) candidates, in priority order. */
export function configSearchPaths(io: Pick<ConfigIO, 'env' | 'cwd' | 'homedir'>, base: 'clouds' | 'secure'): string[] {
  const override = base === 'clouds' ? io.env.OS_CLIENT_CONFIG_FILE : io.env.OS_CLIENT_SECURE_FILE;
  const xdg = io.env.XDG_CONFIG_HOME ?? path.join(io.homedir, '.config');
  const dirs = [io.cwd, path.join(xdg, 'openstack'), '/etc/openstack'];
  const files: string[] = [];
  if (override) files.push(override);
  for (const d of dirs) for (const ext of ['yaml', 'yml']) files.push(path.join(d, `${base}.${ext}`));
  return files;
}

function firstFile(io: ConfigIO, candidates: string[]): { file: string; text: string } | undefined {
  for (const file of candidates) {
    const text = io.readFile(file);
    if (text !== undefined) return { file, text };
  }
  return undefined;
}

function deepMerge(a: JsonObject, b: JsonObject): JsonObject {
  const out: JsonObject = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isObject(prev) && isObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function parseYamlFile(file: string, text: string): JsonObject {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    throw new OpenStackConfigError(`${file}: not valid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (doc === null || doc === undefined) return {};
  if (!isObject(doc)) throw new OpenStackConfigError(`${file}: expected a mapping at the top level`);
  return doc;
}

/**
 * Loads the cloud named by `options.cloud` or OS_CLOUD from clouds.yaml;
 * without a name, reads OS_* variables.
 */
export function loadCloudConfig(io: ConfigIO, options: LoadOptions = {}): CloudConfig {
  const name = options.cloud ?? nonEmpty(io.env.OS_CLOUD);
  if (name === undefined) return cloudFromEnv(io.env);

  const candidates = configSearchPaths(io, 'clouds');
  const found = firstFile(io, candidates);
  if (!found) {
    throw new OpenStackConfigError(`cloud "${name}" requested but no clouds.yaml was found; looked in: ${candidates.join(', ')}`);
  }
  const clouds = parseYamlFile(found.file, found.text).clouds;
  if (!isObject(clouds)) throw new OpenStackConfigError(`${found.file}: no "clouds" mapping`);
  const rawEntry = clouds[name];
  if (!isObject(rawEntry)) {
    throw new OpenStackConfigError(
      `cloud "${name}" not found in ${found.file} (it has: ${Object.keys(clouds).join(', ') || 'no clouds'})`,
    );
  }
  let entry: JsonObject = rawEntry;
  let source = found.file;
  const secure = firstFile(io, configSearchPaths(io, 'secure'));
  if (secure) {
    const secureClouds = parseYamlFile(secure.file, secure.text).clouds;
    const secureEntry = isObject(secureClouds) ? secureClouds[name] : undefined;
    if (isObject(secureEntry)) {
      entry = deepMerge(entry, secureEntry);
      source = `${found.file} + ${secure.file}`;
    }
  }
  return cloudFromEntry(name, entry, source);
}

function nonEmpty(v: unknown): string | undefined {
  if (typeof v === 'number') return String(v);
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function truthy(v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  return typeof v === 'string' && ['1', 'true', 'yes', 'on'].includes(v.toLowerCase());
}

function parseInterface(v: string | undefined, source: string): EndpointInterface {
  if (v === undefined) return 'public';
  const s = v.replace(/URL$/, '');
  if (s === 'public' || s === 'internal' || s === 'admin') return s;
  throw new OpenStackConfigError(`${source}: interface "${v}" is not one of public, internal, admin`);
}

function cloudFromEntry(name: string, entry: JsonObject, source: string): CloudConfig {
  const a = isObject(entry.auth) ? entry.auth : {};
  const g = (k: string): string | undefined => nonEmpty(a[k]);
  const auth = pruneAuth({
    authUrl: g('auth_url') ?? '',
    username: g('username'),
    userId: g('user_id'),
    password: g('password'),
    projectName: g('project_name') ?? g('tenant_name'),
    projectId: g('project_id') ?? g('tenant_id'),
    userDomainName: g('user_domain_name') ?? g('domain_name'),
    userDomainId: g('user_domain_id') ?? g('domain_id'),
    projectDomainName: g('project_domain_name') ?? g('domain_name'),
    projectDomainId: g('project_domain_id') ?? g('domain_id'),
    applicationCredentialId: g('application_credential_id'),
    applicationCredentialName: g('application_credential_name'),
    applicationCredentialSecret: g('application_credential_secret'),
  });
  const where = `cloud "${name}" in ${source}`;
  const verify = entry.verify;
  const cfg: CloudConfig = {
    cloudName: name,
    authType: parseAuthType(nonEmpty(entry.auth_type), auth, where),
    auth,
    interface: parseInterface(nonEmpty(entry.interface) ?? nonEmpty(entry.endpoint_type), where),
    insecure: truthy(entry.insecure) || verify === false,
    source,
  };
  const region = nonEmpty(entry.region_name);
  if (region !== undefined) cfg.regionName = region;
  const cacert = nonEmpty(entry.cacert) ?? (typeof verify === 'string' ? verify : undefined);
  if (cacert !== undefined) cfg.cacert = cacert;
  validate(cfg, where, 'auth.');
  return cfg;
}

/** Builds the configuration from OS_* variables. */
export function cloudFromEnv(env: Readonly<Record<string, string | undefined>>): CloudConfig {
  const g = (k: string): string | undefined => nonEmpty(env[k]);
  const auth = pruneAuth({
    authUrl: g('OS_AUTH_URL') ?? '',
    username: g('OS_USERNAME'),
    userId: g('OS_USER_ID'),
    password: g('OS_PASSWORD'),
    projectName: g('OS_PROJECT_NAME') ?? g('OS_TENANT_NAME'),
    projectId: g('OS_PROJECT_ID') ?? g('OS_TENANT_ID'),
    userDomainName: g('OS_USER_DOMAIN_NAME'),
    userDomainId: g('OS_USER_DOMAIN_ID'),
    projectDomainName: g('OS_PROJECT_DOMAIN_NAME'),
    projectDomainId: g('OS_PROJECT_DOMAIN_ID'),
    applicationCredentialId: g('OS_APPLICATION_CREDENTIAL_ID'),
    applicationCredentialName: g('OS_APPLICATION_CREDENTIAL_NAME'),
    applicationCredentialSecret: g('OS_APPLICATION_CREDENTIAL_SECRET'),
  });
  const where = 'the environment (OS_CLOUD unset, so OS_* variables were used)';
  if (auth.authUrl === '') {
    throw new OpenStackConfigError(
      `no cloud configured: OS_CLOUD is unset and OS_AUTH_URL is missing from ${where}; set OS_CLOUD to a clouds.yaml entry or export OS_AUTH_URL and credentials`,
    );
  }
  const cfg: CloudConfig = {
    cloudName: 'envvars',
    authType: parseAuthType(g('OS_AUTH_TYPE'), auth, where),
    auth,
    interface: parseInterface(g('OS_INTERFACE') ?? g('OS_ENDPOINT_TYPE'), where),
    insecure: truthy(env.OS_INSECURE),
    source: 'environment',
  };
  const region = g('OS_REGION_NAME');
  if (region !== undefined) cfg.regionName = region;
  const cacert = g('OS_CACERT');
  if (cacert !== undefined) cfg.cacert = cacert;
  validate(cfg, where, 'OS_');
  return cfg;
}

type LooseAuth = { [K in keyof AuthConfig]: AuthConfig[K] | undefined };

function pruneAuth(a: LooseAuth): AuthConfig {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(a)) if (v !== undefined) out[k] = v;
  return out as unknown as AuthConfig;
}

function parseAuthType(v: string | undefined, auth: AuthConfig, where: string): AuthType {
  if (v === undefined) {
    return auth.applicationCredentialSecret !== undefined ? 'v3applicationcredential' : 'password';
  }
  if (v === 'password' || v === 'v3password') return 'password';
  if (v === 'v3applicationcredential' || v === 'applicationcredential') return 'v3applicationcredential';
  throw new OpenStackConfigError(`${where}: auth type "${v}" is not supported (use password or v3applicationcredential)`);
}

function validate(cfg: CloudConfig, where: string, prefix: 'auth.' | 'OS_'): void {
  const n = (snake: string): string => (prefix === 'OS_' ? `OS_${snake.toUpperCase()}` : `auth.${snake}`);
  const missing = (what: string): never => {
    throw new OpenStackConfigError(`${where}: missing ${what}`);
  };
  const a = cfg.auth;
  if (a.authUrl === '') missing(n('auth_url'));
  if (cfg.authType === 'v3applicationcredential') {
    if (a.applicationCredentialSecret === undefined) missing(n('application_credential_secret'));
    if (a.applicationCredentialId === undefined) {
      if (a.applicationCredentialName === undefined) {
        missing(`${n('application_credential_id')} (or ${n('application_credential_name')} with a user)`);
      }
      if (a.userId === undefined && a.username === undefined) {
        missing(`${n('username')} or ${n('user_id')} (needed with ${n('application_credential_name')})`);
      }
      if (a.userId === undefined && a.userDomainName === undefined && a.userDomainId === undefined) {
        missing(`${n('user_domain_name')} or ${n('user_domain_id')} (needed with ${n('username')})`);
      }
    }
    return;
  }
  if (a.userId === undefined && a.username === undefined) missing(`${n('username')} or ${n('user_id')}`);
  if (a.password === undefined) missing(n('password'));
  if (a.userId === undefined && a.userDomainName === undefined && a.userDomainId === undefined) {
    missing(`${n('user_domain_name')} or ${n('user_domain_id')} (needed with ${n('username')})`);
  }
  if (a.projectId === undefined && a.projectName === undefined) missing(`${n('project_name')} or ${n('project_id')}`);
  if (a.projectId === undefined && a.projectDomainName === undefined && a.projectDomainId === undefined) {
    missing(`${n('project_domain_name')} or ${n('project_domain_id')} (needed with ${n('project_name')})`);
  }
}

/** The process's own environment, files and directories (what the services and the CLI use). */
export function processConfigIO(): ConfigIO {
  return {
    env: process.env,
    readFile: (file) => {
      try {
        return readFileSync(file, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
    },
    cwd: process.cwd(),
    homedir: os.homedir(),
  };
}
