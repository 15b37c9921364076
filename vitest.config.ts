import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: [
      'src/**/*.test.ts',
      'test/**/*.test.ts',
      'examples/**/*.test.ts',
      'demo/**/*.test.ts',
      // The benchmark harness's arithmetic (schedules, ratios, target verdicts): no servers.
      'bench/lib/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Server-backed suites (Redis cluster, PostgreSQL) start their own processes; two workers
    // match this 2-core machine and keep port use predictable.
    maxWorkers: 2,
    // Gives the run an id for the suites' Redis prefixes and schemas, and fails the run if any
    // of them is left in the shared services.
    globalSetup: ['test/support/global-setup.ts'],
    typecheck: { enabled: true, include: ['test-d/**/*.test-d.ts'] },
  },
});
