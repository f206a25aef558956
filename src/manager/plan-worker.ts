/**
 * The planning worker's entry: runs `planRequest` (and `placeAddedUnits`, a scale-out's new units) off the manager's event
 * loop. A big topology takes the engine hundreds of milliseconds (measured:
 * 0.66 s for 200 units all talking to each other); here it cannot delay a
 * health probe, and a runaway plan is ended by terminating this thread.
 */
import { parentPort } from 'node:worker_threads';
import { TopologyError } from '../topology/source.ts';
import { placeAddedUnits } from './changes.ts';
import { planRequest } from './planner.ts';
import type { PlanJob, PlanJobResult } from './plan-runner.ts';

if (!parentPort) throw new Error('plan-worker.ts runs as a worker thread');
const port = parentPort;
port.on('message', (job: PlanJob) => {
  let result: PlanJobResult;
  try {
    result = job.kind === 'plan' ? { id: job.id, ok: true, planned: planRequest(job.request, job.inputs) } : { id: job.id, ok: true, placed: placeAddedUnits(job.input) };
  } catch (error) {
    result =
      error instanceof TopologyError
        ? { id: job.id, ok: false, issues: [...error.issues] }
        : { id: job.id, ok: false, message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) };
  }
  port.postMessage(result);
});
// Loading this thread's modules is not the plan's time: the runner starts the deadline from here.
port.postMessage({ ready: true });
