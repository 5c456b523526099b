// npm test leaves the host alone: a test process has a HOME of its own, and the user config
// the engine (and every CLI it starts) reads is the tests' own, never ~/.config/bramble.
import { userInfo, tmpdir } from "node:os";
import { describe, expect, it } from "vitest";
import { userConfigFile } from "../../core/builders/host-access.js";
import { defaultHome } from "../../core/store/layout.js";
import { bramble, freshHome } from "../helpers/cli.js";

describe("the tests' environment", () => {
  it("has a HOME, XDG dirs and a user config under the temporary directory, not the developer's", () => {
    const real = userInfo().homedir;
    for (const p of [process.env.HOME!, process.env.XDG_CONFIG_HOME!, process.env.XDG_CACHE_HOME!, userConfigFile(), defaultHome()]) {
      expect(p.startsWith(tmpdir()), p).toBe(true);
      expect(p.startsWith(`${real}/`), p).toBe(false);
    }
  });

  it("is what a CLI the tests start sees", () => {
    const r = bramble(["backends", "--json"], { home: freshHome() });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(new RegExp(`${userInfo().homedir}/\\.config`));
  });
});
