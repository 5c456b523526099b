// Issue 12: the docker backend mounted its whole store volume read-write into every build
// container, and one build changed another's input. Now the store volume is read-only in a
// build's container; only its own build directory and outputs (a volume of its own) are
// writable. Against a real Docker API (podman's service) and the local busybox image.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { derivationHash } from "../../core/derivation/derivation.js";
import { DOCKER_STORE_DIR } from "../../core/builders/docker-transport.js";
import { build, eventsOf, graph, ref, shDrv, skipReason, tempDir, tempEngine } from "../backends/helpers.js";
import { podmanUnavailable } from "../backends/podman.js";
import { usePodman } from "../helpers/backend-fixtures.js";
import { record } from "./record.js";

const why = skipReason("docker store", podmanUnavailable());

describe.skipIf(why)("the docker backend's store volume", () => {
  const podman = usePodman("bramble-ro");

  it("is read-only in a build's container: no write to an input, another output, the store or another build's directory", async () => {
    const engine = tempEngine();
    const docker = podman.docker(engine);
    const env = { PATH: "/bin:/usr/bin" };
    const input = shDrv("ro-input", "mkdir $out; echo original > $out/file", { env });
    const victim = shDrv("ro-victim", "echo original > $out", { env });
    const r0 = await build(engine, graph(input, victim), [input, victim], { builder: "docker", keepRemote: true });
    expect(eventsOf(r0.events, "failed").map((e) => e.error)).toEqual([]);
    const nameOf = (d: Parameters<typeof derivationHash>[0]) => engine.db.drvOutputsRecorded([derivationHash(d)]).get(derivationHash(d))!.out!;
    const victimName = nameOf(victim);
    const TRY = `try() { if sh -c "$1" >/dev/null 2>&1; then echo "$2: ok" >> $out/report; else echo "$2: denied" >> $out/report; fi; }`;
    const attacker = shDrv(
      "ro-attacker",
      [
        "mkdir $out",
        TRY,
        `try 'echo evil > ${ref(input)}/file' input-write`,
        `try 'chmod 777 ${ref(input)}/file' input-chmod`,
        `try 'rm -rf ${ref(input)}' input-rm`,
        `try 'echo evil > ${DOCKER_STORE_DIR}/${victimName}' other-output`,
        `try 'touch ${DOCKER_STORE_DIR}/planted' store-new-entry`,
        `try 'mkdir -p ${DOCKER_STORE_DIR}/.build/someone-else && touch ${DOCKER_STORE_DIR}/.build/someone-else/x' other-build-dir`,
        "try 'echo scratch > $BRAMBLE_BUILD_TOP/scratch' own-build-dir",
        "echo $out > $out/where",
      ].join("\n"),
      { env: { ...env, dep: ref(input) } },
    );
    const r = await build(engine, graph(input, attacker), [attacker], { builder: "docker", keepRemote: true });
    expect(eventsOf(r.events, "failed").map((e) => e.error)).toEqual([]);
    // Bring the attacker's output here to read its report.
    const outName = nameOf(attacker);
    const local = tempDir("bramble-ro-out-");
    await docker.transport.getTar(DOCKER_STORE_DIR, [outName], local);
    const report = Object.fromEntries(
      readFileSync(join(local, outName, "report"), "utf8")
        .trim()
        .split("\n")
        .map((l) => l.split(": ") as [string, string]),
    );
    const where = readFileSync(join(local, outName, "where"), "utf8").trim();
    const inputText = await docker.store.run("read", `cat ${DOCKER_STORE_DIR}/${nameOf(input)}/file`);
    const problems = await docker.store.verify({});
    const denied = Object.entries(report).filter(([k]) => k !== "own-build-dir");
    const held =
      denied.every(([, v]) => v === "denied") &&
      report["own-build-dir"] === "ok" &&
      inputText === "original\n" &&
      problems.length === 0 &&
      where === `${DOCKER_STORE_DIR}/${outName}`;
    record({
      area: "hermetic",
      attack: "a docker build writing into its input, another output, the store volume and another build's directory",
      tries: denied.length,
      held,
      detail: `the store volume is mounted read-only in build containers (its own build directory and outputs are a volume of its own, relocated to the store directory before hashing: $out read back as ${where === `${DOCKER_STORE_DIR}/${outName}` ? "its store path" : where}); the input still reads "${inputText.trim()}", the volume's store verifies clean`,
    });
    expect(report).toEqual({
      "input-write": "denied",
      "input-chmod": "denied",
      "input-rm": "denied",
      "other-output": "denied",
      "store-new-entry": "denied",
      "other-build-dir": "denied",
      "own-build-dir": "ok",
    });
    expect(inputText).toBe("original\n");
    expect(problems).toEqual([]);
    // The builder saw its own store path as $out, once relocated.
    expect(where).toBe(`${DOCKER_STORE_DIR}/${outName}`);
    engine.close();
  }, 180_000);
});
