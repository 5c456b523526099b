// Struct: a host value with named attributes (the json and math modules, a loaded module).
import { repr } from "./repr.js";
import { HostValue, Value, equals, freeze, hashString, hashValue } from "./values.js";

/** A simple frozen value with named attributes (for modules like json, math, sys). */
export class Struct implements HostValue {
  private attrs: Map<string, Value>;
  constructor(
    readonly typeName: string,
    attrs: Record<string, Value> | Map<string, Value>,
  ) {
    this.attrs = attrs instanceof Map ? new Map(attrs) : new Map(Object.entries(attrs));
  }
  type(): string {
    return this.typeName;
  }
  str(): string {
    return this.repr();
  }
  repr(): string {
    const parts: string[] = [];
    for (const [k, v] of this.attrs) parts.push(`${k} = ${repr(v)}`);
    return `${this.typeName}(${parts.join(", ")})`;
  }
  attr(name: string): Value | undefined {
    return this.attrs.get(name);
  }
  attrNames(): string[] {
    return [...this.attrs.keys()].sort();
  }
  truth(): boolean {
    return true;
  }
  hash(): number {
    let h = 0;
    for (const [k, v] of this.attrs) h = (h * 31 + hashString(k) + hashValue(v)) | 0;
    return h;
  }
  freeze(): void {
    for (const v of this.attrs.values()) freeze(v);
  }
  equals(other: Value): boolean {
    if (!(other instanceof Struct) || other.typeName !== this.typeName || other.attrs.size !== this.attrs.size) return false;
    for (const [k, v] of this.attrs) {
      const w = other.attrs.get(k);
      if (w === undefined || !equals(v, w)) return false;
    }
    return true;
  }
}
