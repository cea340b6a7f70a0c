import type { MachineStatus } from '../../shared/db/schema.ts';
import { SystemError } from '../../shared/errors.ts';

/**
 * The machine state machine. `running → starting` is a restart after the process exited;
 * `failed → starting` is a retry after a crash.
 */
const ALLOWED: Record<MachineStatus, readonly MachineStatus[]> = {
  starting: ['running', 'failed', 'stopping'],
  running: ['starting', 'failed', 'stopping'],
  failed: ['starting', 'stopping'],
  stopping: ['stopped'],
  stopped: [],
};

export class InvalidMachineTransitionError extends SystemError {
  constructor(machineId: string, from: MachineStatus, to: MachineStatus) {
    super('MACHINE_TRANSITION_INVALID', `Machine ${machineId} cannot go from ${from} to ${to}.`, { details: { machineId, from, to } });
  }
}

export function assertMachineTransition(machineId: string, from: MachineStatus, to: MachineStatus): void {
  if (!ALLOWED[from].includes(to)) throw new InvalidMachineTransitionError(machineId, from, to);
}
