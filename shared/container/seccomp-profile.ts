import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { SystemError } from '../errors.ts';
import type { SpecSeccomp } from './runtime-spec-types.ts';

/** The profile data file; its `_comment` fields say where each group of syscalls comes from. */
export const DEFAULT_SECCOMP_PROFILE_PATH = fileURLToPath(new URL('./seccomp/default-profile.json', import.meta.url));

const argumentSchema = z
  .object({
    index: z.number().int().min(0).max(5),
    value: z.number().int().min(0),
    valueTwo: z.number().int().min(0).optional(),
    op: z.enum(['SCMP_CMP_EQ', 'SCMP_CMP_NE', 'SCMP_CMP_LT', 'SCMP_CMP_LE', 'SCMP_CMP_GT', 'SCMP_CMP_GE', 'SCMP_CMP_MASKED_EQ']),
  })
  .strict();

const ruleSchema = z
  .object({
    _comment: z.string().optional(),
    names: z.array(z.string().regex(/^[a-z_][a-z0-9_]*$/)).min(1),
    action: z.enum(['SCMP_ACT_ALLOW', 'SCMP_ACT_ERRNO']),
    errnoRet: z.number().int().min(1).optional(),
    args: z.array(argumentSchema).optional(),
  })
  .strict();

const profileSchema = z
  .object({
    _comment: z.array(z.string()).optional(),
    defaultAction: z.literal('SCMP_ACT_ERRNO'),
    defaultErrnoRet: z.number().int().min(1),
    /** Keyed by Node's process.arch. */
    architectures: z.record(z.string(), z.array(z.string().startsWith('SCMP_ARCH_')).min(1)),
    syscalls: z.array(ruleSchema).min(1),
  })
  .strict();

export type SeccompProfile = z.infer<typeof profileSchema>;

const cache = new Map<string, Promise<SeccompProfile>>();

/** Reads and validates a profile file once per process. */
export function loadSeccompProfile(profilePath = DEFAULT_SECCOMP_PROFILE_PATH): Promise<SeccompProfile> {
  let loading = cache.get(profilePath);
  if (!loading) {
    loading = readProfile(profilePath);
    loading.catch(() => cache.delete(profilePath));
    cache.set(profilePath, loading);
  }
  return loading;
}

/**
 * Returns the `linux.seccomp` section for this host's architecture: the profile without its
 * comments, with the architectures that Node's `arch` (x64, arm64) runs. Fails with
 * SECCOMP_ARCH_UNSUPPORTED on any other architecture rather than running unfiltered.
 */
export async function defaultSeccomp(arch: string = process.arch, profilePath?: string): Promise<SpecSeccomp> {
  const profile = await loadSeccompProfile(profilePath);
  const architectures = profile.architectures[arch];
  if (!architectures) {
    throw new SystemError(
      'SECCOMP_ARCH_UNSUPPORTED',
      `The seccomp profile has no rules for CPU architecture ${arch} (it covers ${Object.keys(profile.architectures).join(', ')}): ` +
        'add the architecture to shared/container/seccomp/default-profile.json.',
    );
  }

  return {
    defaultAction: profile.defaultAction,
    defaultErrnoRet: profile.defaultErrnoRet,
    architectures: [...architectures],
    syscalls: profile.syscalls.map(({ _comment, ...rule }) => ({
      ...rule,
      names: [...rule.names],
      ...(rule.args ? { args: rule.args.map((arg) => ({ ...arg })) } : {}),
    })),
  };
}

async function readProfile(profilePath: string): Promise<SeccompProfile> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(profilePath, 'utf8'));
  } catch (error) {
    throw new SystemError('SECCOMP_PROFILE_UNREADABLE', `The seccomp profile ${profilePath} cannot be read as JSON: ${String(error)}`, { cause: error });
  }

  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ');
    throw new SystemError('SECCOMP_PROFILE_INVALID', `The seccomp profile ${profilePath} is invalid: ${problems}.`);
  }
  return parsed.data;
}
