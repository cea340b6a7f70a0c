import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { SystemError } from '../errors.ts';
import { claimFile } from '../files/claim-file.ts';

/** A bridge made for one label (an owner) on one block of the main bridge's address range. */
export interface ChildBridge {
  label: string;
  bridgeName: string;
  subnet: string;
  /** The block's index in the subnet plan; its record file is `<index>.json`. */
  index: number;
}

/** `sc` and 10 hex digits of a hash of the main bridge and the label: 12 characters, within the 15 of an interface name. */
export function childBridgeName(mainBridge: string, label: string): string {
  return `sc${createHash('sha256').update(`${mainBridge}/${label}`).digest('hex').slice(0, 10)}`;
}

/**
 * The child bridges of a main bridge, recorded as one file per claimed block in
 * `dir`. A block is claimed by creating its file with O_EXCL, so two processes never
 * take the same block. Records outlive the process, so a label keeps its block (and its
 * containers their subnet) across restarts.
 */
export class ChildBridges {
  private readonly claiming = new Map<string, Promise<ChildBridge>>();

  constructor(
    readonly dir: string,
    readonly mainBridge: string,
  ) {}

  async list(): Promise<ChildBridge[]> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [] as string[];
      throw error;
    });
    const records: ChildBridge[] = [];
    for (const name of names.filter((entry) => /^\d+\.json$/.test(entry))) {
      const record = await readRecord(path.join(this.dir, name));
      if (record) records.push(record);
    }
    return records.sort((left, right) => left.index - right.index);
  }

  /** Returns the label's child, claiming the first free block for a new one. Calls for one label share one claim. */
  claim(label: string, blocks: ReadonlyArray<{ index: number; subnet: string }>): Promise<ChildBridge> {
    const running = this.claiming.get(label);
    if (running) return running;
    const claim = this.claimOnce(label, blocks).finally(() => this.claiming.delete(label));
    this.claiming.set(label, claim);
    return claim;
  }

  async forget(child: ChildBridge): Promise<void> {
    await rm(path.join(this.dir, `${child.index}.json`), { force: true });
  }

  private async claimOnce(label: string, blocks: ReadonlyArray<{ index: number; subnet: string }>): Promise<ChildBridge> {
    const existing = (await this.list()).find((child) => child.label === label);
    if (existing) return existing;

    await mkdir(this.dir, { recursive: true });
    for (const block of blocks) {
      const record: ChildBridge = { label, bridgeName: childBridgeName(this.mainBridge, label), subnet: block.subnet, index: block.index };
      if (await claimFile(path.join(this.dir, `${block.index}.json`), record)) return record;
    }

    throw new SystemError(
      'NETWORK_BLOCKS_EXHAUSTED',
      `Every address block of ${this.mainBridge}'s range is taken by another owner's network (records in ${this.dir}): ` +
        'configure a larger SLIPWAY_BRIDGE_SUBNET.',
      { details: { label, blocks: blocks.length } },
    );
  }
}

async function readRecord(file: string): Promise<ChildBridge | null> {
  try {
    const record = JSON.parse(await readFile(file, 'utf8')) as ChildBridge;
    return typeof record.bridgeName === 'string' && typeof record.subnet === 'string' ? record : null;
  } catch {
    return null;
  }
}
