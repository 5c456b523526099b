// The host values bramble's builtins hand to Starlark: derivations, run and test records.
import type { HostValue, Value } from "../starlark/index.js";
import { outputTemplate, type Derivation } from "../derivation/derivation.js";

export class DerivationValue implements HostValue {
  constructor(
    readonly drvHash: string,
    readonly drv: Derivation,
    /** file:line:col of the derivation() call */
    readonly location: string,
  ) {}
  type(): string {
    return "derivation";
  }
  /** A derivation used as a string is its first output. */
  str(): string {
    return outputTemplate(this.drvHash, this.drv.outputs[0]!);
  }
  repr(): string {
    return `<derivation ${this.drv.name} ${this.drvHash}>`;
  }
  attr(name: string): Value | undefined {
    if (this.drv.outputs.includes(name)) return outputTemplate(this.drvHash, name);
    if (name === "name") return this.drv.name;
    if (name === "hash") return this.drvHash;
    if (name === "system") return this.drv.system;
    if (name === "platform") return this.drv.platform;
    return undefined;
  }
  attrNames(): string[] {
    return [...new Set([...this.drv.outputs, "hash", "name", "platform", "system"])].sort();
  }
  truth(): boolean {
    return true;
  }
  equals(other: Value): boolean {
    return other instanceof DerivationValue && other.drvHash === this.drvHash;
  }
  hash(): number {
    return parseInt(this.drvHash.slice(0, 6), 32);
  }
}

/** `run(...)`: a command to run from a built output (`bramble run`). */
export interface RunSpec {
  derivation: string;
  cmd: string;
  args: string[];
  paths: string[];
  readOnly: boolean;
  hiddenPaths: string[];
  network: boolean;
}

export class RunValue implements HostValue {
  constructor(readonly spec: RunSpec) {}
  type(): string {
    return "run";
  }
  str(): string {
    return `<run ${this.spec.cmd}>`;
  }
  attr(name: string): Value | undefined {
    return name === "cmd" ? this.spec.cmd : undefined;
  }
  attrNames(): string[] {
    return ["cmd"];
  }
}

/** `test(...)`: a derivation to build as a test (`bramble test`). */
export interface TestSpec {
  derivation: string;
  args: string[];
  location: string;
}

export class TestValue implements HostValue {
  constructor(readonly spec: TestSpec) {}
  type(): string {
    return "test";
  }
  str(): string {
    return `<test ${this.spec.derivation}>`;
  }
  attr(): Value | undefined {
    return undefined;
  }
  attrNames(): string[] {
    return [];
  }
}
