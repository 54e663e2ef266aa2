import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (pkg: string) => fileURLToPath(new URL(`./${pkg}/src/index.ts`, import.meta.url));

// Unit tests import the workspaces' TypeScript sources directly; integration tests run the built CLIs
// (dist/, produced by `npm run build`, which `npm install` runs through `prepare`) as real processes.
const alias = { '@s4op/shared': src('shared'), '@s4op/host': src('host'), '@s4op/agent': src('agent') };

export default defineConfig({
  test: {
    projects: [
      {
        resolve: { alias },
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], testTimeout: 60_000 },
      },
      {
        resolve: { alias },
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          // Real processes on loopback: one file at a time keeps 2 cores from thrashing.
          fileParallelism: false,
          // Real processes and timers on a shared, noisy 2-core machine: a failure is retried once, and a
          // test that needed the retry is still reported by the runner (see the JSON report's retryCount).
          retry: 1,
        },
      },
    ],
  },
});
