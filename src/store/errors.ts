/** Errors of the desired-SLA store; every one has a stable `code`. */

export type StoreErrorCode =
  /** The file cannot be created, opened, is not a database, or its migrations failed. */
  | 'CM_ERR_STORE_OPEN'
  /** The file's schema is newer than this code. */
  | 'CM_ERR_STORE_SCHEMA'
  /** A server id that is not UUID-like, or an SLA that does not validate. */
  | 'CM_ERR_STORE_INVALID'
  /** A stored row that no longer parses (edited by hand, disk damage). */
  | 'CM_ERR_STORE_CORRUPT'
  /** A call after close(). */
  | 'CM_ERR_STORE_CLOSED';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
  }
}
