// Where mirror://<name>/ points: $BRAMBLE_MIRROR_<NAME>, then the user's config [mirrors],
// then the default; a bad setting is an error naming the file and the key.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { mirrorBase, resolveMirrorUrl } from "../../core/builders/mirrors.js";
import { cleanupTemps, tempDir } from "../engine/helpers.js";

const saved = process.env.BRAMBLE_MIRROR_DEBIAN;
afterEach(() => {
  if (saved === undefined) delete process.env.BRAMBLE_MIRROR_DEBIAN;
  else process.env.BRAMBLE_MIRROR_DEBIAN = saved;
  cleanupTemps();
});

function config(text: string): string {
  const f = join(tempDir("bramble-mirrors-"), "config.toml");
  writeFileSync(f, text);
  return f;
}

describe("mirror:// URLs", () => {
  const deb = "mirror://debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb";

  it("use deb.debian.org when nothing is configured", () => {
    delete process.env.BRAMBLE_MIRROR_DEBIAN;
    expect(resolveMirrorUrl(deb, config(""))).toBe("https://deb.debian.org/debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb");
  });

  it("take the user's [mirrors] setting, e.g. a snapshot of the archive", () => {
    delete process.env.BRAMBLE_MIRROR_DEBIAN;
    const f = config('[mirrors]\ndebian = "https://snapshot.debian.org/archive/debian/20250101T000000Z/"\n');
    expect(resolveMirrorUrl(deb, f)).toBe(
      "https://snapshot.debian.org/archive/debian/20250101T000000Z/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb",
    );
    expect(mirrorBase("debian", f).from).toBe(`${f} [mirrors] debian`);
  });

  it("let $BRAMBLE_MIRROR_DEBIAN override the config", () => {
    process.env.BRAMBLE_MIRROR_DEBIAN = "http://127.0.0.1:9/debian";
    const f = config('[mirrors]\ndebian = "https://example.invalid/debian"\n');
    expect(resolveMirrorUrl(deb, f)).toBe("http://127.0.0.1:9/debian/pool/main/b/busybox/busybox-static_1.35.0-4+deb12u1+b1_amd64.deb");
  });

  it("refuse a setting that is not an http(s) or file URL, naming the file and key", () => {
    delete process.env.BRAMBLE_MIRROR_DEBIAN;
    const f = config('[mirrors]\ndebian = "ftp://old.example/debian"\n');
    expect(() => resolveMirrorUrl(deb, f)).toThrow(`${f}: mirrors.debian: mirror "ftp://old.example/debian" must be an http://, https:// or file:// URL`);
    const g = config("[mirrors]\ndebian = 3\n");
    expect(() => resolveMirrorUrl(deb, g)).toThrow(`${g}: mirrors.debian must be a string (a URL)`);
  });

  it("leave other URLs alone", () => {
    expect(resolveMirrorUrl("https://example.invalid/a.tar.gz")).toBe("https://example.invalid/a.tar.gz");
  });
});
