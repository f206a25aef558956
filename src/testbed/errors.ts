/** Errors of the testbed (real OVS data plane in network namespaces); every one has a stable `code`. */

export type TestbedErrorCode =
  /** Not running as root: network namespaces and veths cannot be made. */
  | 'CM_ERR_TESTBED_NEEDS_ROOT'
  /** A binary the testbed runs (ovs-vswitchd, ovsdb-server, ip, tc, ethtool) is not installed. */
  | 'CM_ERR_TESTBED_MISSING_BINARY'
  /** Bad options: host names, prefix, rates. */
  | 'CM_ERR_TESTBED_INVALID'
  /** A host, server or port the testbed does not know. */
  | 'CM_ERR_TESTBED_UNKNOWN'
  /** Starting a host's switch, or plugging/unplugging a port, failed; see `cause`. */
  | 'CM_ERR_TESTBED_SETUP'
  /** A call after close(). */
  | 'CM_ERR_TESTBED_CLOSED'
  /** close() could not remove everything; the message lists what is left. */
  | 'CM_ERR_TESTBED_CLEANUP';

export class TestbedError extends Error {
  readonly code: TestbedErrorCode;
  constructor(code: TestbedErrorCode, message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'TestbedError';
    this.code = code;
  }
}
