export { StoreError, type StoreErrorCode } from './errors.ts';
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
