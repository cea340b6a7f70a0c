import { defineConfig } from 'vitest/config';

// Unit tests sit beside their code; integration and end-to-end tests live in test/.
// Integration tests start real servers (redis-server, postgres, s3rver) and real runc
// containers, so they run one file at a time to keep ports and cgroups apart.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{api,workers,runner,shared,cli,infra}/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/support/global-setup.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
