/** Entry point of the detached process `cm testbed up` starts (see daemon.ts); not for direct use. */
import { runSupervisor, type SupervisorArgs } from './daemon.ts';

await runSupervisor(JSON.parse(process.argv[2] ?? '{}') as SupervisorArgs);
