// vitest setupFiles: point this test process (and the CLI and servers it starts, through the
// environment) at the run's loopback Debian mirror (debian-mirror.ts), never the internet's.
import { inject } from "vitest";

const url = inject("debianMirror");
if (url) process.env.BRAMBLE_MIRROR_DEBIAN = url;
