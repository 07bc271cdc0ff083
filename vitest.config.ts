import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // Native kernels have their own thread pool; run test files one at a time so that
    // thread-count tests and timing-sensitive fuzz runs do not fight over the two cores.
    fileParallelism: false,
  },
});
