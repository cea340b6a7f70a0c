import type { MachineStatus } from '../../shared/db/schema.ts';
import { SystemError } from '../../shared/errors.ts';

/**
 * The machine state machine. `running → starting` is a restart after the process exited;
 * `failed → starting` is a retry after a crash. `stopped` is a machine whose process was
 * stopped while its root and network sandbox were kept, so `stopped → starting` is a fast
 * start on demand; a machine that is destroyed passes through `stopping` and its row goes.
 */
const ALLOWED: Record<MachineStatus, readonly MachineStatus[]> = {
  starting: ['running', 'failed', 'stopping'],
  running: ['starting', 'failed', 'stopping'],
  failed: ['starting', 'stopping'],
  stopping: ['stopped'],
  stopped: ['starting', 'stopping'],
};

export class InvalidMachineTransitionError extends SystemError {
  constructor(machineId: string, from: MachineStatus, to: MachineStatus) {
    super('MACHINE_TRANSITION_INVALID', `Machine ${machineId} cannot go from ${from} to ${to}.`, { details: { machineId, from, to } });
  }
}

export function assertMachineTransition(machineId: string, from: MachineStatus, to: MachineStatus): void {
  if (!ALLOWED[from].includes(to)) throw new InvalidMachineTransitionError(machineId, from, to);
}
