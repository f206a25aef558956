/**
 * Errors of the OVSDB client. Every error has a stable `code`; transaction
 * errors have one class per RFC 7047 §4.1.3 error string, carrying the index
 * and the operation that failed, so callers use `instanceof` instead of
 * matching message text.
 */

export class OvsdbError extends Error {
  readonly code: string;
  /** True when retrying the same call later may succeed. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

/** The byte stream is not valid OVSDB JSON-RPC (bad JSON, oversize message). */
export class OvsdbProtocolError extends OvsdbError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OVSDB_PROTOCOL', message, options);
  }
}

/** Not connected, connection lost while a call was pending, or connect failed. */
export class OvsdbConnectionError extends OvsdbError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OVSDB_CONNECTION', message, { ...options, retryable: true });
  }
}

/** A call did not complete before its deadline. */
export class OvsdbTimeoutError extends OvsdbError {
  constructor(message: string) {
    super('OVSDB_TIMEOUT', message, { retryable: true });
  }
}

/** The caller's AbortSignal fired. */
export class OvsdbAbortError extends OvsdbError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OVSDB_ABORTED_BY_CALLER', message, options);
  }
}

/** A request was refused by the client before sending: it does not match the schema. */
export class OvsdbSchemaError extends OvsdbError {
  readonly table: string | undefined;
  readonly column: string | undefined;

  constructor(message: string, where: { table?: string; column?: string } = {}) {
    super('OVSDB_SCHEMA', message);
    this.table = where.table;
    this.column = where.column;
  }
}

/** The server answered a JSON-RPC request with a non-null `error` (e.g. "unknown database"). */
export class OvsdbRpcError extends OvsdbError {
  readonly method: string;
  readonly error: unknown;

  constructor(method: string, error: unknown) {
    const text = typeof error === 'string' ? error : JSON.stringify(error);
    super('OVSDB_RPC', `${method} failed: ${text}`);
    this.method = method;
    this.error = error;
  }
}

export interface TransactionErrorInit {
  /** RFC error string, e.g. "referential integrity violation". */
  error: string;
  details?: string | undefined;
  /** Index of the failing operation; equals the number of operations for a commit error. */
  operationIndex: number;
  /** The operation (wire form) that failed; undefined for a commit error. */
  operation?: unknown;
  /** The whole per-operation result array. */
  results: readonly unknown[];
}

/** Base of every failed `transact`. The subclass tells which RFC error it was. */
export class OvsdbTransactionError extends OvsdbError {
  readonly error: string;
  readonly details: string | undefined;
  readonly operationIndex: number;
  readonly operation: unknown;
  readonly results: readonly unknown[];
  /** True when the error was reported for the commit, after every operation succeeded. */
  readonly atCommit: boolean;

  constructor(init: TransactionErrorInit, code = 'OVSDB_TXN', retryable = false) {
    const where =
      init.operation === undefined
        ? 'at commit'
        : `in operation ${String(init.operationIndex)} (${describeOperation(init.operation)})`;
    super(code, `transaction failed ${where}: ${init.error}${init.details ? `: ${init.details}` : ''}`, {
      retryable,
    });
    this.error = init.error;
    this.details = init.details;
    this.operationIndex = init.operationIndex;
    this.operation = init.operation;
    this.results = init.results;
    this.atCommit = init.operation === undefined;
  }
}

function describeOperation(op: unknown): string {
  if (op && typeof op === 'object' && 'op' in op) {
    const o = op as { op: unknown; table?: unknown };
    return typeof o.table === 'string' ? `${String(o.op)} ${o.table}` : String(o.op);
  }
  return 'operation';
}

type TxnErrorClass = new (init: TransactionErrorInit) => OvsdbTransactionError;

function txnErrorClass(code: string, retryable = false): TxnErrorClass {
  return class extends OvsdbTransactionError {
    constructor(init: TransactionErrorInit) {
      super(init, code, retryable);
    }
  };
}

export class ReferentialIntegrityViolationError extends txnErrorClass('OVSDB_REFERENTIAL_INTEGRITY') {}
export class ConstraintViolationError extends txnErrorClass('OVSDB_CONSTRAINT_VIOLATION') {}
export class ResourcesExhaustedError extends txnErrorClass('OVSDB_RESOURCES_EXHAUSTED', true) {}
export class IoError extends txnErrorClass('OVSDB_IO_ERROR', true) {}
export class DuplicateUuidNameError extends txnErrorClass('OVSDB_DUPLICATE_UUID_NAME') {}
export class DuplicateUuidError extends txnErrorClass('OVSDB_DUPLICATE_UUID') {}
export class DomainError extends txnErrorClass('OVSDB_DOMAIN_ERROR') {}
export class OvsdbRangeError extends txnErrorClass('OVSDB_RANGE_ERROR') {}
/** A `wait` operation's condition was not met in time (optimistic concurrency lost). */
export class WaitTimedOutError extends txnErrorClass('OVSDB_WAIT_TIMED_OUT', true) {}
export class NotSupportedError extends txnErrorClass('OVSDB_NOT_SUPPORTED') {}
export class TransactionAbortedError extends txnErrorClass('OVSDB_TXN_ABORTED') {}
export class NotOwnerError extends txnErrorClass('OVSDB_NOT_OWNER') {}
export class OvsdbSyntaxError extends txnErrorClass('OVSDB_SYNTAX_ERROR') {}
export class UnknownColumnError extends txnErrorClass('OVSDB_UNKNOWN_COLUMN') {}
export class PermissionError extends txnErrorClass('OVSDB_PERMISSION_ERROR') {}
export class InternalServerError extends txnErrorClass('OVSDB_INTERNAL_ERROR') {}

const BY_ERROR_STRING: Record<string, TxnErrorClass> = {
  'referential integrity violation': ReferentialIntegrityViolationError,
  'constraint violation': ConstraintViolationError,
  'resources exhausted': ResourcesExhaustedError,
  'I/O error': IoError,
  'duplicate uuid-name': DuplicateUuidNameError,
  'duplicate uuid': DuplicateUuidError,
  'domain error': DomainError,
  'range error': OvsdbRangeError,
  'timed out': WaitTimedOutError,
  'not supported': NotSupportedError,
  aborted: TransactionAbortedError,
  'not owner': NotOwnerError,
  'syntax error': OvsdbSyntaxError,
  'unknown column': UnknownColumnError,
  'permission error': PermissionError,
  'ovsdb error': InternalServerError,
};

/** Builds the typed error for an RFC error string; unknown strings get the base class. */
export function transactionError(init: TransactionErrorInit): OvsdbTransactionError {
  const Cls = BY_ERROR_STRING[init.error];
  return Cls ? new Cls(init) : new OvsdbTransactionError(init);
}
