export { StoreConflictError, StoreError, StoreTransitionError, type StoreErrorCode } from './errors.ts';
export {
  MIGRATIONS,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  SCHEMA_VERSION,
  migrate,
  type Migration,
  type StoreDialect,
} from './migrations.ts';
export {
  canonicalSlaJson,
  openSlaStore,
  redactUrl,
  type ListSlaOptions,
  type OpenSlaStoreOptions,
  type PutMeta,
  type PutResult,
  type SlaSource,
  type SlaStore,
  type SlaStorePathOptions,
  type SlaStoreUrlOptions,
  type StoredSla,
} from './sla-store.ts';
export { SLA_CHANGES_CHANNEL, SLA_LISTENER_APPLICATION_NAME } from './sla-store-pg.ts';
export { openClusterStore, type ClusterStoreOptions } from './cluster-store.ts';
export type { ClusterMember, ClusterStore, HostStatusRecord } from './cluster-types.ts';
export { MANAGER_MIGRATIONS, type ManagerDialect, type ManagerMigration } from './manager-migrations.ts';
export {
  RESUMABLE_STATES,
  TERMINAL_STATES,
  TOPOLOGY_STATES,
  openManagerStore,
  PendingManagerStore,
  type ClaimOptions,
  type CreateResult,
  type ListTopologiesOptions,
  type ManagerStore,
  type ManagerStoreConfig,
  type NewTopology,
  type PutServiceTypeResult,
  type ServiceCatalogSnapshot,
  type ServiceTypeWriteOptions,
  type StoredServiceType,
  type Topology,
  type TopologyError,
  type TopologyEvent,
  type TopologyLease,
  type TopologyPage,
  type TopologyPatch,
  type TopologyState,
  type TopologyUnit,
  type TransitionRequest,
} from './manager-store.ts';
