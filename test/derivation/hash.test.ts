// Derivation hashing: canonical JSON and the 32-character base32 hash, pinned to values
// computed independently (Python's hashlib and a separate base32 encoder).
import { describe, expect, it } from "vitest";
import {
  canonicalJSON,
  derivationHash,
  derivationInputs,
  derivationJSON,
  findTemplates,
  outputTemplate,
  shortHash,
  substituteTemplates,
  type Derivation,
} from "../../core/derivation/derivation.js";

const hi: Derivation = {
  name: "hi",
  builder: "/bin/sh",
  args: ["-c", "echo hi > $out"],
  env: {},
  outputs: ["out"],
  network: false,
  platform: "x86_64-linux",
  system: "x86_64-linux",
};

describe("hashing", () => {
  it("is sha256 truncated to 160 bits in Nix base32", () => {
    expect(shortHash("")).toBe("wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    expect(shortHash("abc")).toBe("ldhh7c134ap5vpj0850ymkq1iyzicy5s");
  });

  it("writes canonical JSON with sorted keys and empty fields left out", () => {
    expect(canonicalJSON(hi)).toBe(
      '{"args":["-c","echo hi > $out"],"builder":"/bin/sh","name":"hi","outputs":["out"],"platform":"x86_64-linux","system":"x86_64-linux"}',
    );
    expect(canonicalJSON({ b: [], a: { z: 1, y: {} }, c: "" })).toBe('{"a":{"z":1}}');
  });

  it("pins derivation hashes, with system part of the hash", () => {
    expect(derivationHash(hi)).toBe("mhxfzbb7gvkj3zhs18nxqzdss3ls5d23");
    expect(derivationHash({ ...hi, system: "aarch64-linux" })).toBe("5glx3hbadn3kb3r37igqakjc54yx16lj");
  });

  it("writes a derivation's JSON exactly as the generic canonical form does", () => {
    const full: Derivation = {
      ...hi,
      env: { Z: "1", A: 'x"y', EMPTY: "" },
      sources: { hash: "h", dir: "", files: ["a", "b"] },
      builderBackend: "docker",
      outputHash: "sha256:abc",
      network: true,
      outputs: ["out", "dev"],
    };
    for (const drv of [hi, full, { ...hi, args: [] }]) expect(derivationJSON(drv)).toBe(canonicalJSON(drv));
  });

  it("does not depend on key order", () => {
    const reordered = Object.fromEntries(Object.entries(hi).reverse()) as unknown as Derivation;
    expect(derivationHash(reordered)).toBe(derivationHash(hi));
  });
});

describe("templates", () => {
  const dep = "mhxfzbb7gvkj3zhs18nxqzdss3ls5d23";
  it("finds dependencies by scanning builder, args and env", () => {
    const drv: Derivation = {
      ...hi,
      builder: `${outputTemplate(dep, "out")}/bin/sh`,
      args: [`${outputTemplate("5glx3hbadn3kb3r37igqakjc54yx16lj", "dev")}/include`],
      env: { X: outputTemplate(dep, "out") },
    };
    expect(derivationInputs(drv)).toEqual([
      { hash: dep, output: "out" },
      { hash: "5glx3hbadn3kb3r37igqakjc54yx16lj", output: "dev" },
    ]);
  });
  it("ignores strings that only look similar", () => {
    expect(findTemplates(`{{${dep}:out}} {{ ${dep.slice(1)}:out }} {{ ${dep} }}`)).toEqual([]);
  });
  it("substitutes store paths", () => {
    expect(substituteTemplates(`x ${outputTemplate(dep, "out")}/bin`, (r) => `/store/${r.hash}-${r.output}`)).toBe(`x /store/${dep}-out/bin`);
  });
});
