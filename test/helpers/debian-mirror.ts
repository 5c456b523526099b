// vitest globalSetup: one loopback Debian mirror (scripts/debian-mirror.mjs over the directory
// scripts/setup-seeds.sh fills) for the whole run. Every test process and the CLI children it
// starts fetch the seed library's .deb files from it (BRAMBLE_MIRROR_DEBIAN, set by mirror-env.ts).
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { TestProject } from "vitest/node";
// @ts-expect-error: a plain .mjs script without type declarations
import { DEFAULT_DEBIAN_DIR, startMirror } from "../../scripts/debian-mirror.mjs";

declare module "vitest" {
  export interface ProvidedContext {
    debianMirror: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = DEFAULT_DEBIAN_DIR as string;
  if (!existsSync(join(dir, "pool"))) {
    throw new Error(`the loopback Debian mirror at ${dir} is empty: run scripts/setup-seeds.sh (scripts/setup.sh does)`);
  }
  const mirror = (await startMirror({ dir })) as { url: string; close: () => Promise<void> };
  process.env.BRAMBLE_MIRROR_DEBIAN = mirror.url;
  project.provide("debianMirror", mirror.url);
  return () => mirror.close();
}
