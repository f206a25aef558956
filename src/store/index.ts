export { StoreConflictError, StoreError, StoreTransitionError, type StoreErrorCode } from './errors.ts';
export { MIGRATIONS, SCHEMA_VERSION, migrate, type Migration } from './migrations.ts';
export {
  canonicalSlaJson,
  openSlaStore,
  type OpenSlaStoreOptions,
  type PutMeta,
  type PutResult,
  type SlaSource,
  type SlaStore,
  type StoredSla,
} from './sla-store.ts';
export { MANAGER_MIGRATIONS, type ManagerDialect, type ManagerMigration } from './manager-migrations.ts';
export {
  RESUMABLE_STATES,
  TERMINAL_STATES,
  TOPOLOGY_STATES,
  openManagerStore,
  type ClaimOptions,
  type CreateResult,
  type ListTopologiesOptions,
  type ManagerStore,
  type ManagerStoreConfig,
  type NewTopology,
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
