import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSeccomp } from './seccomp-profile.ts';
import type { SpecSeccomp } from './runtime-spec-types.ts';

/** Returns every rule that names `syscall`. */
function rulesFor(seccomp: SpecSeccomp, syscall: string) {
  return (seccomp.syscalls ?? []).filter((rule) => rule.names.includes(syscall));
}

describe('defaultSeccomp', () => {
  let seccomp: SpecSeccomp;
  let scratch: string;

  beforeAll(async () => {
    seccomp = await defaultSeccomp('x64');
    scratch = await mkdtemp(path.join(tmpdir(), 'slipway-seccomp-'));
  });

  afterAll(async () => {
    await rm(scratch, { recursive: true, force: true });
  });

  it('covers the 64-bit, 32-bit and x32 ABIs on x64', () => {
    expect(seccomp.architectures).toEqual(['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32']);
  });

  it('covers arm64 and its 32-bit ABI', async () => {
    expect((await defaultSeccomp('arm64')).architectures).toEqual(['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  });

  it('rejects an architecture it has no rules for', async () => {
    await expect(defaultSeccomp('riscv64')).rejects.toMatchObject({ code: 'SECCOMP_ARCH_UNSUPPORTED' });
  });

  it('drops the comments from the rules', () => {
    expect(JSON.stringify(seccomp)).not.toContain('_comment');
  });

  it.each(['read', 'write', 'openat', 'execve', 'futex', 'epoll_wait', 'accept4', 'mmap', 'setuid', 'shmget', 'fork'])('allows %s', (syscall) => {
    const rules = rulesFor(seccomp, syscall);

    expect(rules).toEqual([expect.objectContaining({ action: 'SCMP_ACT_ALLOW' })]);
    expect(rules[0]?.args).toBeUndefined();
  });

  it.each([
    'mount', 'umount2', 'pivot_root', 'unshare', 'setns', 'keyctl', 'add_key', 'request_key', 'bpf', 'perf_event_open',
    'userfaultfd', 'io_uring_setup', 'kexec_load', 'init_module', 'finit_module', 'reboot', 'swapon', 'acct', 'settimeofday',
    'clock_settime', 'open_by_handle_at', 'name_to_handle_at', 'process_vm_readv', 'fsopen', 'move_mount', 'socketcall', 'syslog',
  ])('leaves %s out of the allow-list', (syscall) => {
    expect(rulesFor(seccomp, syscall)).toEqual([]);
  });

  it('allows clone only without namespace flags', () => {
    expect(rulesFor(seccomp, 'clone')).toEqual([
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] },
    ]);
  });

  it('answers clone3 with ENOSYS', () => {
    expect(rulesFor(seccomp, 'clone3')).toEqual([{ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }]);
  });

  it('allows socket for the unix, IPv4, IPv6 and netlink families only', () => {
    const families = rulesFor(seccomp, 'socket').map((rule) => {
      expect(rule.args).toHaveLength(1);
      expect(rule.args?.[0]).toMatchObject({ index: 0, value: 0xffffffff, op: 'SCMP_CMP_MASKED_EQ' });
      return rule.args?.[0]?.valueTwo;
    });

    expect(families.sort((left, right) => (left ?? 0) - (right ?? 0))).toEqual([1, 2, 10, 16]);
  });

  it.each([
    ['mknod', 1],
    ['mknodat', 2],
  ])('allows %s only for regular files, FIFOs and sockets', (syscall, modeIndex) => {
    const fileTypes = rulesFor(seccomp, syscall).map((rule) => {
      expect(rule.args?.[0]).toMatchObject({ index: modeIndex, value: 0o170000, op: 'SCMP_CMP_MASKED_EQ' });
      return rule.args?.[0]?.valueTwo;
    });

    expect(fileTypes.sort((left, right) => (left ?? 0) - (right ?? 0))).toEqual([0, 0o010000, 0o100000, 0o140000]);
  });

  it('allows personality values that keep address randomization on', () => {
    const values = rulesFor(seccomp, 'personality').map((rule) => rule.args?.[0]?.value);

    expect(values.sort((left, right) => (left ?? 0) - (right ?? 0))).toEqual([0, 8, 0x20000, 0x20008, 0xffffffff]);
  });

  it('names every syscall once among the unconditional rules', () => {
    const names = (seccomp.syscalls ?? []).filter((rule) => !rule.args).flatMap((rule) => rule.names);

    expect(names.length).toBe(new Set(names).size);
  });

  it('rejects a profile file with an unknown field', async () => {
    const file = path.join(scratch, 'bad-field.json');
    await writeFile(
      file,
      JSON.stringify({ defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: { x64: ['SCMP_ARCH_X86_64'] }, syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW', flags: 1 }] }),
    );

    await expect(defaultSeccomp('x64', file)).rejects.toMatchObject({ code: 'SECCOMP_PROFILE_INVALID' });
  });

  it('rejects a profile file that is not JSON', async () => {
    const file = path.join(scratch, 'not-json.json');
    await writeFile(file, '{ "defaultAction": ');

    await expect(defaultSeccomp('x64', file)).rejects.toMatchObject({ code: 'SECCOMP_PROFILE_UNREADABLE' });
  });
});
