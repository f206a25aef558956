/**
 * Errors of the OpenFlow client. Every error has a stable `code` so callers
 * use `instanceof` or `code` instead of matching message text. Errors the
 * switch reported (OFPT_ERROR) carry the decoded type and code names and, for
 * a batch, the index of the message they answer.
 */

export class OpenFlowError extends Error {
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

/**
 * Bytes that are not a valid OpenFlow 1.3 message: truncated, a length field
 * that contradicts the data, a header length below 8. The message says what
 * was wrong and where. Received from the peer, it drops the connection.
 */
export class OpenFlowProtocolError extends OpenFlowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OPENFLOW_BAD_MESSAGE', message, options);
  }
}

/** The peer announced a message larger than `maxMessageBytes`; the connection is dropped. */
export class OpenFlowMessageTooLargeError extends OpenFlowError {
  readonly length: number;
  readonly limit: number;

  constructor(length: number, limit: number) {
    super('OPENFLOW_MESSAGE_TOO_LARGE', `incoming message of ${String(length)} bytes exceeds the maximum of ${String(limit)} bytes`);
    this.length = length;
    this.limit = limit;
  }
}

/** A value given to an encoder/builder cannot be encoded (out of range, bad address). */
export class OpenFlowArgumentError extends OpenFlowError {
  constructor(message: string) {
    super('OPENFLOW_BAD_ARGUMENT', message);
  }
}

/** Not connected, connection lost while a call was pending, or connect failed. */
export class OpenFlowConnectionError extends OpenFlowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OPENFLOW_CONNECTION', message, { ...options, retryable: true });
  }
}

/** The switch does not speak OpenFlow 1.3 (version negotiation in OFPT_HELLO failed). */
export class OpenFlowVersionError extends OpenFlowError {
  /** Versions the switch offered (wire numbers, 0x01 = 1.0 … 0x06 = 1.5). */
  readonly offered: readonly number[];

  constructor(offered: readonly number[]) {
    const names = offered.map(versionName).join(', ') || 'none';
    super('OPENFLOW_VERSION_MISMATCH', `the switch does not offer OpenFlow 1.3 (offered: ${names}); enable it in Bridge:protocols`);
    this.offered = offered;
  }
}

/** A call did not complete before its deadline. */
export class OpenFlowTimeoutError extends OpenFlowError {
  constructor(message: string) {
    super('OPENFLOW_TIMEOUT', message, { retryable: true });
  }
}

/** The caller's AbortSignal fired. */
export class OpenFlowAbortError extends OpenFlowError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('OPENFLOW_ABORTED_BY_CALLER', message, options);
  }
}

export interface SwitchErrorInit {
  /** OFPT_ERROR type and code numbers (for OFPET_EXPERIMENTER, code is the exp_type). */
  type: number;
  code: number;
  /** e.g. `OFPET_METER_MOD_FAILED`, or `OFPET_UNKNOWN(77)`. */
  typeName: string;
  /** e.g. `OFPMMFC_METER_EXISTS`, or `UNKNOWN(9)`. */
  codeName: string;
  /** Experimenter id of an OFPET_EXPERIMENTER error (0x00002320 = Nicira). */
  experimenter?: number | undefined;
  /** xid of the request the error answers. */
  xid: number;
  /** Leading bytes of the offending request (as echoed by the switch). */
  data: Buffer;
  /** Position of the offending message in a `send()` batch. */
  index?: number | undefined;
  /** What the failing request was, e.g. `flow_mod add`. */
  request?: string | undefined;
}

/** The switch answered a request with OFPT_ERROR. */
export class OpenFlowSwitchError extends OpenFlowError {
  readonly type: number;
  readonly errorCode: number;
  readonly typeName: string;
  readonly codeName: string;
  readonly experimenter: number | undefined;
  readonly xid: number;
  readonly data: Buffer;
  readonly index: number | undefined;

  constructor(init: SwitchErrorInit) {
    const where = init.index === undefined ? '' : ` (message ${String(init.index)} of the batch)`;
    const what = init.request === undefined ? 'request' : init.request;
    const exp = init.experimenter === undefined ? '' : ` experimenter=0x${init.experimenter.toString(16).padStart(8, '0')}`;
    super('OPENFLOW_SWITCH_ERROR', `${what}${where} failed: ${init.typeName}/${init.codeName}${exp}`);
    this.type = init.type;
    this.errorCode = init.code;
    this.typeName = init.typeName;
    this.codeName = init.codeName;
    this.experimenter = init.experimenter;
    this.xid = init.xid;
    this.data = init.data;
    this.index = init.index;
  }
}

/**
 * One or more messages of a `send()` batch got OFPT_ERROR. The switch applied
 * every other message of the batch (OpenFlow has no transactions outside
 * bundles), so the caller re-reads and re-plans.
 */
export class OpenFlowBatchError extends OpenFlowError {
  /** One per failed message, in batch order; each has `index`. */
  readonly errors: readonly OpenFlowSwitchError[];
  readonly batchSize: number;

  constructor(errors: readonly OpenFlowSwitchError[], batchSize: number) {
    const first = errors[0];
    const more = errors.length > 1 ? ` (and ${String(errors.length - 1)} more)` : '';
    super('OPENFLOW_BATCH_FAILED', `${String(errors.length)} of ${String(batchSize)} messages failed; first: ${first?.message ?? '?'}${more}`);
    this.errors = errors;
    this.batchSize = batchSize;
  }
}

export function versionName(version: number): string {
  return version >= 1 && version <= 6 ? `OpenFlow1${String(version - 1)}` : `0x${version.toString(16).padStart(2, '0')}`;
}
