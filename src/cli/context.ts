/**
 * What every command needs: where to write, the environment, the global
 * options resolved against it, and HTTP clients of the agent and the manager.
 * The I/O is injected so `run()` works in-process (tests) exactly as the bin.
 */
import type { Command } from 'commander';
import { Agent } from 'undici';
import { usageError } from './errors.ts';
import { ApiClient } from './http.ts';
import { renderFields, serialise, styler, type OutputFormat, type Out, type Styler } from './output.ts';

export interface CliIo {
  stdout: Out;
  stderr: Out;
  env: Readonly<Record<string, string | undefined>>;
  /** Ends long-running commands (`cm sim`, `--wait`) as Ctrl-C does. */
  signal?: AbortSignal;
}

export interface GlobalOptions {
  output: OutputFormat;
  agentUrl: string;
  agentToken: string | undefined;
  managerUrl: string;
  managerToken: string | undefined;
  cloud: string | undefined;
  timeoutMs: number;
}

export const DEFAULT_AGENT_URL = 'http://127.0.0.1:8091';
export const DEFAULT_MANAGER_URL = 'http://127.0.0.1:8092';
const DEFAULT_TIMEOUT_MS = 30_000;

/** `30`, `30s`, `500ms`, `2m`, `1h` → milliseconds; a bare number is seconds, as in `openstack --timeout`. */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw usageError(`${option}: "${text}" is not a duration (e.g. 30, 30s, 500ms, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 's' ? n * 1000 : unit === 'm' ? n * 60_000 : n * 3_600_000;
  if (ms <= 0) throw usageError(`${option}: must be greater than 0`);
  return ms;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function checkUrl(url: string, option: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`${option}: "${url}" is not a URL (e.g. http://127.0.0.1:8091)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw usageError(`${option}: "${url}" must be http:// or https://`);
  return url;
}

export class CliContext {
  private dispatcher: Agent | undefined;
  /** Set by commands that succeed with a non-zero code (an infeasible dry run prints its plan and exits 4). */
  exitCode = 0;

  constructor(readonly io: CliIo) {}

  get env(): Readonly<Record<string, string | undefined>> {
    return this.io.env;
  }

  /** Global options may come before or after the subcommand; commander merges them into optsWithGlobals. */
  globals(command: Command): GlobalOptions {
    const o = command.optsWithGlobals<{
      output?: OutputFormat;
      agentUrl?: string;
      agentToken?: string;
      managerUrl?: string;
      managerToken?: string;
      cloud?: string;
      timeout?: string;
    }>();
    const env = this.io.env;
    return {
      output: o.output ?? 'table',
      agentUrl: checkUrl(o.agentUrl ?? nonEmpty(env.CM_AGENT_URL) ?? DEFAULT_AGENT_URL, o.agentUrl === undefined ? 'CM_AGENT_URL' : '--agent-url'),
      agentToken: o.agentToken ?? nonEmpty(env.CM_AGENT_TOKEN),
      managerUrl: checkUrl(o.managerUrl ?? nonEmpty(env.CM_MANAGER_URL) ?? DEFAULT_MANAGER_URL, o.managerUrl === undefined ? 'CM_MANAGER_URL' : '--manager-url'),
      managerToken: o.managerToken ?? nonEmpty(env.CM_MANAGER_TOKEN),
      cloud: o.cloud ?? nonEmpty(env.OS_CLOUD),
      timeoutMs: o.timeout === undefined ? DEFAULT_TIMEOUT_MS : parseDuration(o.timeout, '--timeout'),
    };
  }

  agent(command: Command): ApiClient {
    const g = this.globals(command);
    return new ApiClient(
      {
        label: 'CM Agent',
        url: g.agentUrl,
        token: g.agentToken,
        unreachableHint: 'hint: is the agent running? start it with `cm agent --sim` (or `cm agent --config FILE`), or point to it with --agent-url / CM_AGENT_URL',
        authHint: 'hint: the agent refused the token: set --agent-token or CM_AGENT_TOKEN to one of its auth.tokens',
      },
      this.http(),
      g.timeoutMs,
      this.io.signal,
    );
  }

  manager(command: Command): ApiClient {
    const g = this.globals(command);
    return new ApiClient(
      {
        label: 'Connectivity Manager',
        url: g.managerUrl,
        token: g.managerToken,
        unreachableHint: 'hint: is the manager running? start it with `cm manager --config manager.yaml`, or point to it with --manager-url / CM_MANAGER_URL',
        authHint: 'hint: the manager refused the token: set --manager-token or CM_MANAGER_TOKEN to one of its auth.tokens',
      },
      this.http(),
      g.timeoutMs,
      this.io.signal,
    );
  }

  styleOut(): Styler {
    return styler(this.io.stdout, this.io.env);
  }

  styleErr(): Styler {
    return styler(this.io.stderr, this.io.env);
  }

  out(text: string): void {
    this.io.stdout.write(text);
  }

  err(text: string): void {
    this.io.stderr.write(text);
  }

  /** Data in the chosen format: `table` renders it for people, json/yaml print it unchanged. */
  print(command: Command, data: unknown, table: (style: Styler) => string): void {
    const format = this.globals(command).output;
    this.out(format === 'table' ? table(this.styleOut()) : serialise(data, format));
  }

  fields(fields: readonly (readonly [string, string])[]): string {
    return renderFields(fields, this.styleOut());
  }

  private http(): Agent {
    // One connection pool per run, closed at the end so a finished command never waits on keep-alive sockets.
    this.dispatcher ??= new Agent({ connections: 4 });
    return this.dispatcher;
  }

  async close(): Promise<void> {
    const d = this.dispatcher;
    this.dispatcher = undefined;
    await d?.close();
  }
}
