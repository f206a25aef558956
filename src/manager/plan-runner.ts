/**
 * Plans in a worker thread, one at a time, with a deadline and a heap bound:
 * the manager's event loop (health probes, other requests, the deployer)
 * never waits on the placement engine, a plan past its deadline is stopped by
 * terminating its thread, and one that would need more memory than allowed
 * kills that thread, not the manager. Waiting plans are bounded too.
 */
import { Worker } from 'node:worker_threads';
import { TopologyError, type TopologyIssue } from '../topology/source.ts';
import type { AddedUnitsInput, AddedUnitsPlacement } from './changes.ts';
import type { PlanInputs, PlannedTopology, TopologyRequest } from './planner.ts';

/** A submission's plan, or the placement of a scale-out's new units: the engine's two jobs. */
export type PlanJob = { id: number; kind: 'plan'; request: TopologyRequest; inputs: PlanInputs } | { id: number; kind: 'place-added'; input: AddedUnitsInput };

export type PlanJobResult =
  | { id: number; ok: true; planned: PlannedTopology }
  | { id: number; ok: true; placed: AddedUnitsPlacement }
  | { id: number; ok: false; issues: TopologyIssue[] }
  | { id: number; ok: false; message: string };

export type PlanFailureCode = 'CM_ERR_PLAN_TIMEOUT' | 'CM_ERR_PLAN_MEMORY' | 'CM_ERR_PLAN_BUSY' | 'CM_ERR_PLAN_FAILED' | 'CM_ERR_PLAN_CLOSED';

/** A plan that could not be made for a reason of its cost, not of the topology. */
export class PlanRunnerError extends Error {
  constructor(
    readonly code: PlanFailureCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PlanRunnerError';
  }
}

export interface PlanRunnerOptions {
  /** A plan still running after this long is stopped. */
  timeoutMs: number;
  /** Old-generation heap of the worker, MiB. */
  heapMb: number;
  /** Plans allowed to wait for the worker; more are refused at once (CM_ERR_PLAN_BUSY). @default 16 */
  maxWaiting?: number;
}

interface Pending {
  job: PlanJob;
  resolve: (result: PlannedTopology | AddedUnitsPlacement) => void;
  reject: (error: Error) => void;
}

/**
 * The worker's entry beside this file: .js from the build; from the sources
 * (tsx) a worker does not inherit tsx's loader, so a two-line bootstrap
 * registers it before importing the .ts entry.
 */
function startWorker(heapMb: number): Worker {
  const resourceLimits = { maxOldGenerationSizeMb: heapMb };
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./plan-worker.js', import.meta.url), { resourceLimits });
  const entry = new URL('./plan-worker.ts', import.meta.url).href;
  // Resolved here, from this file: an eval'd worker would resolve a bare specifier from the working directory.
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(bootstrap, { eval: true, resourceLimits });
}

export class PlanRunner {
  private worker: Worker | undefined;
  private workerReady = false;
  private current: (Pending & { timer: NodeJS.Timeout | undefined }) | undefined;
  private readonly waiting: Pending[] = [];
  private nextId = 1;
  private closed = false;

  constructor(private readonly o: PlanRunnerOptions) {}

  plan(request: TopologyRequest, inputs: PlanInputs): Promise<PlannedTopology> {
    return this.run({ id: this.nextId++, kind: 'plan', request, inputs }) as Promise<PlannedTopology>;
  }

  /** Places a scale-out's new units (`placeAddedUnits`), with the same deadline and bounds as a plan. */
  placeAdded(input: AddedUnitsInput): Promise<AddedUnitsPlacement> {
    return this.run({ id: this.nextId++, kind: 'place-added', input }) as Promise<AddedUnitsPlacement>;
  }

  private run(job: PlanJob): Promise<PlannedTopology | AddedUnitsPlacement> {
    if (this.closed) return Promise.reject(new PlanRunnerError('CM_ERR_PLAN_CLOSED', 'the manager is stopping'));
    if (this.waiting.length >= (this.o.maxWaiting ?? 16)) {
      return Promise.reject(new PlanRunnerError('CM_ERR_PLAN_BUSY', `${String(this.waiting.length)} plans are already waiting; try again shortly`));
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ job, resolve, reject });
      this.pump();
    });
  }

  /** Ends the worker; waiting and running plans are refused. */
  async close(): Promise<void> {
    this.closed = true;
    const error = new PlanRunnerError('CM_ERR_PLAN_CLOSED', 'the manager is stopping');
    for (const p of this.waiting.splice(0)) p.reject(error);
    this.finish(error);
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }

  private pump(): void {
    if (this.current || this.closed) return;
    const next = this.waiting.shift();
    if (!next) return;
    const worker = this.ensureWorker();
    this.current = { ...next, timer: undefined };
    // The job is sent at once (the port queues it); its deadline starts once the worker has loaded.
    worker.postMessage(next.job);
    if (this.workerReady) this.startDeadline();
  }

  private startDeadline(): void {
    const current = this.current;
    if (!current || current.timer !== undefined) return;
    current.timer = setTimeout(() => {
      this.replaceWorker(new PlanRunnerError('CM_ERR_PLAN_TIMEOUT', `planning was stopped after ${String(this.o.timeoutMs)} ms`));
    }, this.o.timeoutMs);
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const worker = startWorker(this.o.heapMb);
    // An idle worker must not keep a finished process alive.
    worker.unref();
    this.workerReady = false;
    worker.on('message', (result: PlanJobResult | { ready: true }) => {
      if (this.worker !== worker) return;
      if ('ready' in result) {
        this.workerReady = true;
        this.startDeadline();
        return;
      }
      if (this.current?.job.id !== result.id) return;
      if (result.ok) this.finish(undefined, 'planned' in result ? result.planned : result.placed);
      else if ('issues' in result) this.finish(new TopologyError(result.issues));
      else this.finish(new PlanRunnerError('CM_ERR_PLAN_FAILED', `planning failed: ${result.message}`));
    });
    worker.on('error', (error: Error & { code?: string }) => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      const memory = error.code === 'ERR_WORKER_OUT_OF_MEMORY';
      this.finish(
        memory
          ? new PlanRunnerError('CM_ERR_PLAN_MEMORY', `planning needed more than ${String(this.o.heapMb)} MiB`, { cause: error })
          : new PlanRunnerError('CM_ERR_PLAN_FAILED', `the planning worker failed: ${error.message}`, { cause: error }),
      );
    });
    worker.on('exit', () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.finish(new PlanRunnerError('CM_ERR_PLAN_FAILED', 'the planning worker stopped'));
    });
    this.worker = worker;
    return worker;
  }

  private replaceWorker(error: PlanRunnerError): void {
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
    this.finish(error);
  }

  private finish(error: Error | undefined, result?: PlannedTopology | AddedUnitsPlacement): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    clearTimeout(current.timer);
    if (error) current.reject(error);
    else if (result) current.resolve(result);
    this.pump();
  }
}
