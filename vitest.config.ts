import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A user config of the tests' own (host paths allowed for fixtures), never the developer's.
    // hermetic-env.ts first: a HOME and XDG dirs of the test process's own.
    setupFiles: ["test/helpers/hermetic-env.ts", "test/helpers/user-config.ts", "test/helpers/mirror-env.ts"],
    // One loopback Debian mirror for the seed library's .deb files (scripts/setup-seeds.sh fills it).
    globalSetup: ["test/helpers/debian-mirror.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // Tests spawn sandboxes and browsers; two cores are shared between them.
    maxWorkers: 2,
  },
});
