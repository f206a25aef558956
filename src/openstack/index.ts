/**
 * OpenStack client layer: `createOpenStack(config)` wires one HTTP layer,
 * Keystone (token + catalog) and the Nova, Placement, Neutron and Heat clients.
 */
import { readFileSync } from 'node:fs';
import type { CloudConfig } from './config.ts';
import { OpenStackConfigError } from './errors.ts';
import { HttpClient, type HttpClientOptions } from './http.ts';
import { HeatClient } from './heat/index.ts';
import { KeystoneClient } from './keystone/index.ts';
import { NeutronClient } from './neutron/index.ts';
import { NovaClient, type NovaOptions } from './nova/index.ts';
import { PlacementClient, type PlacementOptions } from './placement/index.ts';
import type { ServiceContext } from './service.ts';

export * from './errors.ts';
export * from './config.ts';
export * from './http.ts';
export * from './keystone/index.ts';
export * from './nova/index.ts';
export * from './placement/index.ts';
export * from './neutron/index.ts';
export * from './heat/index.ts';
export type { ServiceContext, CallOptions } from './service.ts';

export interface OpenStackOptions {
  http?: Omit<HttpClientOptions, 'ca' | 'insecure'>;
  nova?: NovaOptions;
  placement?: PlacementOptions;
  /** Seconds before expires_at to re-authenticate (default 300). */
  refreshMarginMs?: number;
  /** Reads OS_CACERT (default: fs.readFileSync). */
  readCaFile?: (file: string) => string;
}

export interface OpenStack {
  keystone: KeystoneClient;
  nova: NovaClient;
  placement: PlacementClient;
  neutron: NeutronClient;
  heat: HeatClient;
  http: HttpClient;
  /**
   * The same user's clients with tokens scoped to another project (password credentials only:
   * an application credential is bound to its project). They share this client's HTTP layer;
   * closing them is a no-op.
   */
  forProject(projectId: string): OpenStack;
  close(): Promise<void>;
}

export function createOpenStack(config: CloudConfig, options: OpenStackOptions = {}): OpenStack {
  const httpOpts: HttpClientOptions = { ...options.http, insecure: config.insecure };
  if (config.cacert !== undefined) {
    httpOpts.ca = (options.readCaFile ?? ((f: string) => readFileSync(f, 'utf8')))(config.cacert);
  }
  const http = new HttpClient(httpOpts);
  return assemble(http, config, options, () => http.close());
}

function assemble(http: HttpClient, config: CloudConfig, options: OpenStackOptions, close: () => Promise<void>): OpenStack {
  const keystone = new KeystoneClient(http, {
    authType: config.authType,
    auth: config.auth,
    interface: config.interface,
    region: config.regionName,
    ...(options.refreshMarginMs === undefined ? {} : { refreshMarginMs: options.refreshMarginMs }),
  });
  const ctx = (type: string): ServiceContext => ({
    http,
    auth: keystone,
    endpoint: (signal?: AbortSignal) => keystone.endpoint(type, {}, signal),
  });
  return {
    keystone,
    nova: new NovaClient(ctx('compute'), options.nova),
    placement: new PlacementClient(ctx('placement'), options.placement),
    neutron: new NeutronClient(ctx('network')),
    heat: new HeatClient(ctx('orchestration')),
    http,
    forProject: (projectId) => {
      if (config.authType !== 'password') {
        throw new OpenStackConfigError(`auth_type ${config.authType} is bound to one project: acting in project ${projectId} needs password credentials`);
      }
      const { projectName: _name, projectDomainId: _domainId, projectDomainName: _domainName, ...auth } = config.auth;
      return assemble(http, { ...config, auth: { ...auth, projectId } }, options, () => Promise.resolve());
    },
    close,
  };
}
