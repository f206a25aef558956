/**
 * The manager acting in a caller's project. A topology's stack and servers belong to the project
 * of the caller who submitted it, yet pinning servers to hosts is admin-only in Nova
 * (os_compute_api:servers:create:forced_host). A Keystone trust from the caller cannot help: it
 * delegates only the roles the caller holds in that project (member), never admin. So the manager
 * grants its own user the admin role on the caller's project (Keystone's PUT
 * /v3/projects/{p}/users/{u}/roles/{r}, idempotent) and authenticates again with a token scoped to
 * that project: Heat then creates the stack, and Nova the servers, in the caller's project, and
 * Heat's own deferred calls carry the admin role the pins need. docs/manager.md argues the choice.
 */
import type { OpenStack } from '../openstack/index.ts';
import type { CloudApi } from './deployer.ts';
import { classifyUpstream, DeploymentFailure } from './upstream.ts';

export interface ProjectCloudsOptions {
  /** The manager's own clients (their token's project is the manager's project). */
  base: OpenStack;
  /** The role granted on callers' projects; the one Nova's default policy asks for pinning. @default 'admin' */
  role?: string;
  logger?: (event: Record<string, unknown>) => void;
}

/** `error.code` of a topology whose project the manager could not act in (no grant, no such role). */
export const PROJECT_ACCESS_FAILED = 'CM_ERR_PROJECT_ACCESS';

export class ProjectClouds {
  readonly #base: OpenStack;
  readonly #role: string;
  readonly #log: (event: Record<string, unknown>) => void;
  /** project id → its clients once the role is granted (a failed grant is not kept: tried again next time). */
  readonly #clouds = new Map<string, Promise<OpenStack>>();
  #roleId: Promise<string> | undefined;

  constructor(options: ProjectCloudsOptions) {
    this.#base = options.base;
    this.#role = options.role ?? 'admin';
    this.#log = options.logger ?? (() => undefined);
  }

  /** The clients acting in `projectId`: the manager's own ones for its own project. */
  async cloudFor(projectId: string, signal?: AbortSignal): Promise<CloudApi> {
    const own = await this.#base.keystone.tokenInfo(signal);
    if (own.projectId === projectId) return this.#base;
    let cloud = this.#clouds.get(projectId);
    if (!cloud) {
      cloud = this.#open(projectId, own.userId, signal);
      this.#clouds.set(projectId, cloud);
      cloud.catch(() => this.#clouds.delete(projectId));
    }
    return cloud;
  }

  async #open(projectId: string, userId: string, signal: AbortSignal | undefined): Promise<OpenStack> {
    const scoped = this.#base.forProject(projectId);
    const roleId = await this.#roleIdOf(signal);
    try {
      await this.#base.keystone.assignProjectRole(projectId, userId, roleId, signal ? { signal } : {});
    } catch (error) {
      // A 5xx or a lost connection is retried by the deployer like any other call; a refusal is final.
      if (classifyUpstream(error)?.kind !== 'permanent') throw error;
      throw new DeploymentFailure(
        PROJECT_ACCESS_FAILED,
        `cannot act in project ${projectId}: granting the manager's user ${userId} the ${this.#role} role there failed: ${(error as Error).message}`,
      );
    }
    // A token scoped to the project: it proves the grant, and Heat and Nova take their project from it.
    const token = await scoped.keystone.tokenInfo(signal);
    this.#log({ event: 'project_role_granted', project: projectId, user: userId, role: this.#role, roles: token.roles });
    return scoped;
  }

  #roleIdOf(signal: AbortSignal | undefined): Promise<string> {
    if (!this.#roleId) {
      const lookup = this.#base.keystone.findRole(this.#role, signal ? { signal } : {}).then((role) => {
        if (!role) throw new DeploymentFailure(PROJECT_ACCESS_FAILED, `Keystone has no role named ${this.#role}: the manager cannot grant itself the role that pinning servers needs`);
        return role.id;
      });
      this.#roleId = lookup;
      lookup.catch(() => {
        this.#roleId = undefined;
      });
    }
    return this.#roleId;
  }
}
