// Builds the renderer into dist/renderer. The output runs under a strict CSP
// (script-src 'self'), so nothing may be inlined: no module preload polyfill, no inline scripts.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

export default defineConfig({
  root: here,
  base: "./",
  plugins: [react()],
  build: {
    outDir: join(here, "../dist/renderer"),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 4000,
    sourcemap: true,
  },
});
