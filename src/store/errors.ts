/** Errors of the stores (desired SLAs, manager state); every one has a stable `code`. */

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
  | 'CM_ERR_STORE_CLOSED'
  /** Optimistic concurrency: the record's version moved, or the id is already taken. */
  | 'CM_ERR_STORE_CONFLICT'
  /** A state transition whose current state is not one of the allowed `from` states. */
  | 'CM_ERR_STORE_TRANSITION'
  /** No record with that id. */
  | 'CM_ERR_STORE_NOT_FOUND'
  /** A bound of the store was reached (the service catalog's number of entries); nothing was written. */
  | 'CM_ERR_STORE_LIMIT'
  /** The database failed underneath (connection lost, disk full, …); see `cause`. */
  | 'CM_ERR_STORE_BACKEND';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  constructor(code: StoreErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'StoreError';
    this.code = code;
  }
}

/** The version check of an update failed: someone else wrote first. Re-read and retry. */
export class StoreConflictError extends StoreError {
  /** undefined when the conflict is a duplicate id rather than a moved version. */
  readonly expectedVersion: number | undefined;
  readonly actualVersion: number | undefined;
  constructor(
    message: string,
    details: { expectedVersion?: number; actualVersion?: number; cause?: unknown } = {},
  ) {
    super('CM_ERR_STORE_CONFLICT', message, { cause: details.cause });
    this.name = 'StoreConflictError';
    this.expectedVersion = details.expectedVersion;
    this.actualVersion = details.actualVersion;
  }
}

/** A transition was asked from a state the record is not in; nothing was written. */
export class StoreTransitionError extends StoreError {
  readonly id: string;
  readonly actualState: string;
  readonly allowedFrom: readonly string[];
  readonly to: string;
  constructor(id: string, actualState: string, allowedFrom: readonly string[], to: string) {
    super(
      'CM_ERR_STORE_TRANSITION',
      `topology ${id} is ${actualState}, not ${allowedFrom.join('/')}: cannot move it to ${to}`,
    );
    this.name = 'StoreTransitionError';
    this.id = id;
    this.actualState = actualState;
    this.allowedFrom = allowedFrom;
    this.to = to;
  }
}
