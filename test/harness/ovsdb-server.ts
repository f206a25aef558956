/**
 * Test harness: a real `ovsdb-server` in a temporary directory (the launcher
 * lives in src/ovsdb/local-server.ts so the demo can use it too) and the
 * integration gating every real-server test goes through.
 */
import { findBinary } from '../../src/ovsdb/local-server.ts';

export * from '../../src/ovsdb/local-server.ts';

// ---- binary discovery and integration gating -------------------------------

/** True when real-server tests must run (CI, or explicitly required). */
export function integrationRequired(): boolean {
  return process.env.CI === 'true' || process.env.CM_REQUIRE_INTEGRATION === '1';
}

/**
 * Integration gating: returns a skip reason when a binary is missing locally;
 * when process.env.CI === 'true' or CM_REQUIRE_INTEGRATION=1 a missing binary
 * THROWS (CI must never silently skip real-server tests).
 */
export function realOvsAvailable(
  binaries: string[] = ['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl'],
): { skip: false } | { skip: string } {
  const missing = binaries.filter((b) => findBinary(b) === undefined);
  if (missing.length === 0) return { skip: false };
  const reason = `not installed: ${missing.join(', ')}`;
  if (integrationRequired()) {
    throw new Error(
      `real-server integration tests are required here (CI=${String(process.env.CI)}, ` +
        `CM_REQUIRE_INTEGRATION=${String(process.env.CM_REQUIRE_INTEGRATION)}) but ${reason}`,
    );
  }
  return { skip: reason };
}

