/**
 * Exit codes of `cm` and the one error type commands throw to choose one.
 * Scripts branch on these, so they are part of the interface (docs/cli.md).
 */

export const EXIT = {
  OK: 0,
  /** The operation ran and failed: an API 5xx, a topology FAILED, a wait that timed out. */
  FAILED: 1,
  /** Usage or configuration: bad option, unreadable file, missing or refused credentials. */
  USAGE: 2,
  /** 404: no such server, SLA or topology. */
  NOT_FOUND: 3,
  /** 400/409/422: the service refused the input (invalid rate, invalid topology, infeasible plan). */
  REFUSED: 4,
  /** The service did not answer (connection refused, DNS, timeout). */
  UNREACHABLE: 5,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export const EXIT_CODE_HELP = `Exit codes:
  0  success
  1  the operation failed (API 5xx, topology FAILED, --wait timed out)
  2  usage or configuration error (unknown option, unreadable file, token refused)
  3  not found (404: server, SLA or topology)
  4  refused: invalid input or infeasible (400/409/422)
  5  cannot reach the service (connection refused, timeout)`;

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
    /** Printed after the message, one per line: problem fields, reasons, what to do next. */
    readonly lines: readonly string[] = [],
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'CliError';
  }
}

export function usageError(message: string, lines: readonly string[] = []): CliError {
  return new CliError(EXIT.USAGE, message, lines);
}
