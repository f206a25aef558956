/**
 * `cm agent`, `cm manager` and `cm sim`: the services in the foreground.
 * The agent and the manager are the very same entry points as cm-agent and
 * cm-manager (their `main(argv)`), so the two ways of starting them cannot drift.
 */
import { Command, Option } from 'commander';
import YAML from 'yaml';
import { openrcEnv } from '../../sim/openrc.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { renderTable, serialise } from '../output.ts';

/** A wrong --cloud is found now, with the files searched, instead of after the service started to come up. */
async function checkCloud(ctx: CliContext, cloud: string): Promise<void> {
  const { loadCloudConfig, OpenStackConfigError, processConfigIO } = await import('../../openstack/index.ts');
  try {
    loadCloudConfig({ ...processConfigIO(), env: ctx.env }, { cloud });
  } catch (error) {
    if (error instanceof OpenStackConfigError) throw usageError(`--cloud: ${error.message}`);
    throw error;
  }
}

/** The services' own configuration errors list every bad field: keep them, with the exit code of a configuration problem. */
function serviceFailure(service: string, error: unknown, configErrors: readonly (abstract new (...args: never[]) => Error)[]): CliError {
  if (error instanceof CliError) return error;
  const message = error instanceof Error ? error.message : String(error);
  if (configErrors.some((E) => error instanceof E)) return new CliError(EXIT.USAGE, message);
  return new CliError(EXIT.FAILED, `${service}: ${message}`, [], { cause: error });
}

export function agentCommand(ctx: CliContext): Command {
  return new Command('agent')
    .description('run the CM Agent in the foreground (the same as cm-agent; reference: docs/agent.md)')
    .option('--config <file>', 'agent configuration (YAML); CM_AGENT_* variables override it')
    .option('--sim', 'against an embedded simulated cloud (the thesis testbed)')
    .addHelpText('after', '\nExamples:\n  cm agent --config examples/agent.sim.yaml\n  CM_AGENT_TOKENS=$(openssl rand -hex 24) cm agent --sim\n  cm agent --config /etc/cm/agent.yaml --cloud mycloud')
    .action(async (opts: { config?: string; sim?: boolean }, command: Command) => {
      const { cloud } = ctx.globals(command);
      if (cloud !== undefined && opts.sim !== true) {
        await checkCloud(ctx, cloud);
        // The agent reads its cloud from its configuration or CM_AGENT_CLOUD; the variable is how --cloud reaches it.
        process.env.CM_AGENT_CLOUD = cloud;
      }
      const [{ main }, { AgentConfigError }, { OpenStackConfigError }] = await Promise.all([import('../../agent/main.ts'), import('../../agent/config.ts'), import('../../openstack/index.ts')]);
      const argv = [...(opts.config === undefined ? [] : ['--config', opts.config]), ...(opts.sim === true ? ['--sim'] : [])];
      // main() returns once the API listens; its SIGINT/SIGTERM handlers stop the agent and end the process.
      await main(argv).catch((error: unknown) => {
        throw serviceFailure('cm agent', error, [AgentConfigError, OpenStackConfigError]);
      });
    });
}

export function managerCommand(ctx: CliContext): Command {
  return new Command('manager')
    .description('run the Connectivity Manager in the foreground (the same as cm-manager; reference: docs/manager.md)')
    .option('--config <file>', 'manager configuration (YAML); CM_MANAGER_* variables override it')
    .action(async (opts: { config?: string }, command: Command) => {
      const { cloud } = ctx.globals(command);
      if (cloud !== undefined) {
        await checkCloud(ctx, cloud);
        process.env.CM_MANAGER_CLOUD = cloud;
      }
      const [{ main }, { ManagerConfigError }, { OpenStackConfigError }] = await Promise.all([import('../../manager/main.ts'), import('../../manager/config.ts'), import('../../openstack/index.ts')]);
      await main(opts.config === undefined ? [] : ['--config', opts.config]).catch((error: unknown) => {
        throw serviceFailure('cm manager', error, [ManagerConfigError, OpenStackConfigError]);
      });
    });
}

/** Resolves on Ctrl-C / SIGTERM, or when the run's signal aborts (in-process callers). */
function untilInterrupted(signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (signal?.aborted === true) done();
    else signal?.addEventListener('abort', done, { once: true });
  });
}

export function simCommand(ctx: CliContext): Command {
  return new Command('sim')
    .description('start a simulated OpenStack cloud (Keystone, Nova, Placement, Neutron, Heat) with one OVSDB per host; stays up until Ctrl-C')
    .option('--scenario <name|file>', 'a built-in scenario name or a scenario YAML file', 'thesis')
    .addOption(new Option('--ovsdb <kind>', "the hosts' switch databases: the in-process server or real ovsdb-servers").choices(['in-process', 'real']).default('in-process'))
    .option('--port <n>', 'TCP port of the cloud on 127.0.0.1 (default: any free port)')
    .addHelpText('after', '\nWith -o yaml it prints a clouds.yaml entry (cm-sim) instead of OS_* export lines.')
    .action(async (opts: { scenario: string; ovsdb: 'in-process' | 'real'; port?: string }, command: Command) => {
      let port: number | undefined;
      if (opts.port !== undefined) {
        port = Number(opts.port);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw usageError(`--port: "${opts.port}" must be an integer from 0 to 65535`);
      }
      const { startSimCloud, ScenarioError } = await import('../../sim/index.ts');
      const { scenarioPath } = await import('../../sim/scenario.ts');
      let sim: Awaited<ReturnType<typeof startSimCloud>>;
      try {
        sim = await startSimCloud({ scenario: scenarioPath(opts.scenario), ovsdb: opts.ovsdb, ...(port === undefined ? {} : { port }) });
      } catch (error) {
        if (error instanceof ScenarioError || (error as NodeJS.ErrnoException).code === 'ENOENT') throw usageError(`--scenario: ${(error as Error).message}`);
        throw error;
      }
      try {
        const hosts = [...sim.state.hosts.keys()].sort();
        const ovsdb = Object.fromEntries(hosts.map((h) => [h, sim.ovsdbEndpoint(h)]));
        const c = sim.credentials;
        const env = openrcEnv(sim);
        const format = ctx.globals(command).output;
        if (format === 'yaml') {
          const clouds = {
            clouds: {
              'cm-sim': {
                auth: { auth_url: sim.authUrl, username: c.username, password: c.password, project_name: c.projectName, user_domain_name: c.userDomainName, project_domain_name: c.projectDomainName },
                region_name: c.regionName,
                identity_api_version: 3,
              },
            },
          };
          // The endpoints are comments so the snippet stays a valid clouds.yaml to paste.
          ctx.out(`${YAML.stringify(clouds)}# OVSDB per host (an agent's ovsdb.endpoints):\n${hosts.map((h) => `#   ${h}: ${sim.ovsdbEndpoint(h)}`).join('\n')}\n`);
        } else if (format === 'json') {
          ctx.out(serialise({ auth_url: sim.authUrl, scenario: opts.scenario, ovsdb_kind: opts.ovsdb, env, ovsdb }, 'json'));
        } else {
          ctx.out(`${Object.entries(env).map(([k, v]) => `export ${k}=${shellQuote(v)}`).join('\n')}\n\n`);
          ctx.out(renderTable<string>([{ header: 'HOST', value: (h) => h }, { header: 'OVSDB', value: (h) => sim.ovsdbEndpoint(h) }], hosts, ctx.styleOut()));
        }
        ctx.err(`simulated cloud "${opts.scenario}" at ${sim.authUrl} (OVSDB: ${opts.ovsdb}); Ctrl-C to stop\n`);
        await untilInterrupted(ctx.io.signal);
        ctx.err('stopping the simulated cloud\n');
      } finally {
        await sim.close();
      }
    });
}

function shellQuote(v: string): string {
  return /^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replaceAll("'", `'\\''`)}'`;
}
