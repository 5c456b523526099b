// A client of one REAPI endpoint (Buildbarn, BuildBuddy, EngFlow, NativeLink, BuildGrid…):
// @grpc/grpc-js for the transport, protobufjs (protos.ts) for the messages. It speaks the
// Capabilities, ActionCache, ContentAddressableStorage, Execution and ByteStream services.
// Uploads and downloads are batched (FindMissingBlobs, BatchUpdateBlobs, BatchReadBlobs) and
// blobs larger than a batch go through ByteStream in chunks.
import { randomUUID } from "node:crypto";
import { setMaxListeners } from "node:events";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type * as Grpc from "@grpc/grpc-js";
import type protobuf from "protobufjs";
import { reapiType } from "./protos.js";

export interface Digest {
  hash: string;
  size_bytes: number;
}

/** protobufjs leaves a zero size (an empty blob's) undefined: read sizes through this. */
export const sizeOf = (d: Digest) => Number(d.size_bytes ?? 0);
export const digestKey = (d: Digest) => `${d.hash}/${sizeOf(d)}`;

export interface ReapiEndpointOptions {
  /** grpc://host:port (plain), grpcs://host:port (TLS), or host:port (plain) */
  endpoint: string;
  instanceName?: string;
  /** PEM files for TLS: the server's CA (else the system's), and a client key pair for mTLS */
  tls?: { ca?: string; cert?: string; key?: string };
  /** headers sent with every call, e.g. { authorization: "Bearer …" } or { "x-buildbuddy-api-key": "…" } */
  headers?: Record<string, string>;
}

/** A failed call, naming the endpoint, the method and the gRPC status. */
export class ReapiError extends Error {
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

const V2 = "build.bazel.remote.execution.v2";
/** Bytes per batch call and per ByteStream chunk: well below every server's message limit. */
const BATCH_BYTES = 2 * 1024 * 1024;
const CHUNK_BYTES = 1024 * 1024;

type Obj = Record<string, unknown>;

let grpcModule: typeof Grpc | undefined;
/** @grpc/grpc-js, loaded on first use (CLI start-up stays light when no reapi backend builds). */
function grpcLib(): typeof Grpc {
  return (grpcModule ??= createRequire(import.meta.url)("@grpc/grpc-js") as typeof Grpc);
}

function codec(typeName: string): { ser: (o: Obj) => Buffer; de: (b: Buffer) => Obj; type: protobuf.Type } {
  const type = reapiType(typeName);
  return {
    type,
    ser: (o) => Buffer.from(type.encode(type.fromObject(o)).finish()),
    de: (b) => type.toObject(type.decode(b), { longs: Number, enums: String }) as Obj,
  };
}

export function encodeMessage(typeName: string, o: Obj): Buffer {
  return codec(typeName).ser(o);
}
export function decodeMessage<T = Obj>(typeName: string, b: Uint8Array): T {
  return codec(typeName).de(Buffer.from(b)) as T;
}

export class ReapiClient {
  private readonly client: Grpc.Client;
  readonly instanceName: string;
  readonly label: string;
  private readonly metadata: Grpc.Metadata;

  constructor(readonly opts: ReapiEndpointOptions) {
    const grpc = grpcLib();
    const m = /^(grpcs?):\/\/(.+)$/.exec(opts.endpoint);
    const secure = m ? m[1] === "grpcs" : !!opts.tls;
    const target = m ? m[2]! : opts.endpoint;
    const creds = secure
      ? grpc.credentials.createSsl(
          opts.tls?.ca ? readFileSync(opts.tls.ca) : null,
          opts.tls?.key ? readFileSync(opts.tls.key) : null,
          opts.tls?.cert ? readFileSync(opts.tls.cert) : null,
        )
      : grpc.credentials.createInsecure();
    this.client = new grpc.Client(target, creds, {
      "grpc.max_receive_message_length": 64 * 1024 * 1024,
      "grpc.max_send_message_length": 64 * 1024 * 1024,
      "grpc.keepalive_time_ms": 30_000,
    });
    this.instanceName = opts.instanceName ?? "";
    this.label = `${opts.endpoint}${this.instanceName ? ` (instance ${this.instanceName})` : ""}`;
    this.metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(opts.headers ?? {})) this.metadata.set(k.toLowerCase(), v);
  }

  close(): void {
    this.client.close();
  }

  private fail(method: string, e: Grpc.ServiceError | Error): ReapiError {
    const grpc = grpcLib();
    const se = e as Grpc.ServiceError;
    const code = typeof se.code === "number" ? se.code : undefined;
    const name = code !== undefined ? grpc.status[code] : undefined;
    return new ReapiError(`${this.label}: ${method}: ${name ? `${name}: ` : ""}${se.details || e.message}`, code);
  }

  unary<T = Obj>(service: string, method: string, reqType: string, resType: string, req: Obj, timeoutMs = 60_000): Promise<T> {
    const rq = codec(reqType);
    const rs = codec(resType);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(`/${service}/${method}`, rq.ser, rs.de, req, this.metadata.clone(), { deadline: Date.now() + timeoutMs }, (err, res) =>
        err ? reject(this.fail(method, err)) : resolve(res as T),
      );
    });
  }

  async capabilities(): Promise<Obj> {
    return this.unary(
      `${V2}.Capabilities`,
      "GetCapabilities",
      `${V2}.GetCapabilitiesRequest`,
      `${V2}.ServerCapabilities`,
      { instance_name: this.instanceName },
      5_000,
    );
  }

  /** The cached ActionResult of an action, or undefined. */
  async getActionResult(action: Digest): Promise<Obj | undefined> {
    try {
      return await this.unary(`${V2}.ActionCache`, "GetActionResult", `${V2}.GetActionResultRequest`, `${V2}.ActionResult`, {
        instance_name: this.instanceName,
        action_digest: action,
        inline_stdout: true,
        inline_stderr: true,
      });
    } catch (e) {
      if (e instanceof ReapiError && e.code === 5 /* NOT_FOUND */) return undefined;
      throw e;
    }
  }

  async updateActionResult(action: Digest, result: Obj): Promise<void> {
    await this.unary(`${V2}.ActionCache`, "UpdateActionResult", `${V2}.UpdateActionResultRequest`, `${V2}.ActionResult`, {
      instance_name: this.instanceName,
      action_digest: action,
      action_result: result,
    });
  }

  /** Which of these digests the CAS lacks (asked in batches). */
  async findMissing(digests: Digest[]): Promise<Digest[]> {
    const unique = [...new Map(digests.filter((d) => sizeOf(d) > 0).map((d) => [digestKey(d), d])).values()];
    const missing: Digest[] = [];
    for (let i = 0; i < unique.length; i += 4096) {
      const r = await this.unary<{ missing_blob_digests?: Digest[] }>(
        `${V2}.ContentAddressableStorage`,
        "FindMissingBlobs",
        `${V2}.FindMissingBlobsRequest`,
        `${V2}.FindMissingBlobsResponse`,
        { instance_name: this.instanceName, blob_digests: unique.slice(i, i + 4096) },
      );
      missing.push(...(r.missing_blob_digests ?? []));
    }
    return missing;
  }

  /** Upload blobs: small ones in batches, large ones through ByteStream. */
  async upload(blobs: { digest: Digest; data: () => Buffer }[]): Promise<void> {
    let batch: { digest: Digest; data: Buffer }[] = [];
    let bytes = 0;
    const flush = async () => {
      if (!batch.length) return;
      const r = await this.unary<{ responses?: { digest: Digest; status?: { code?: number; message?: string } }[] }>(
        `${V2}.ContentAddressableStorage`,
        "BatchUpdateBlobs",
        `${V2}.BatchUpdateBlobsRequest`,
        `${V2}.BatchUpdateBlobsResponse`,
        { instance_name: this.instanceName, requests: batch.map((b) => ({ digest: b.digest, data: b.data })) },
      );
      const bad = (r.responses ?? []).find((x) => x.status?.code);
      if (bad)
        throw new ReapiError(
          `${this.label}: BatchUpdateBlobs: blob ${digestKey(bad.digest)}: ${bad.status?.message ?? `code ${bad.status?.code}`}`,
          bad.status?.code,
        );
      batch = [];
      bytes = 0;
    };
    for (const b of blobs) {
      if (sizeOf(b.digest) > BATCH_BYTES / 2) {
        await this.write(b.digest, b.data());
        continue;
      }
      if (bytes + sizeOf(b.digest) > BATCH_BYTES || batch.length >= 1000) await flush();
      batch.push({ digest: b.digest, data: b.data() });
      bytes += sizeOf(b.digest);
    }
    await flush();
  }

  /** ByteStream.Write of one blob, in chunks. */
  write(d: Digest, data: Buffer): Promise<void> {
    const rq = codec("google.bytestream.WriteRequest");
    const rs = codec("google.bytestream.WriteResponse");
    const prefix = this.instanceName ? `${this.instanceName}/` : "";
    const resource = `${prefix}uploads/${randomUUID()}/blobs/${d.hash}/${sizeOf(d)}`;
    return new Promise((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(`/google.bytestream.ByteStream/Write`, rq.ser, rs.de, this.metadata.clone(), {}, (err) =>
        err ? reject(this.fail("ByteStream.Write", err)) : resolve(),
      );
      for (let off = 0; off < data.length || off === 0; off += CHUNK_BYTES) {
        const end = Math.min(off + CHUNK_BYTES, data.length);
        call.write({ ...(off === 0 ? { resource_name: resource } : {}), write_offset: off, data: data.subarray(off, end), finish_write: end === data.length });
        if (data.length === 0) break;
      }
      call.end();
    });
  }

  /** ByteStream.Read of one blob. */
  read(d: Digest): Promise<Buffer> {
    const rq = codec("google.bytestream.ReadRequest");
    const rs = codec("google.bytestream.ReadResponse");
    const prefix = this.instanceName ? `${this.instanceName}/` : "";
    return new Promise((resolve, reject) => {
      const parts: Buffer[] = [];
      const call = this.client.makeServerStreamRequest(
        `/google.bytestream.ByteStream/Read`,
        rq.ser,
        rs.de,
        { resource_name: `${prefix}blobs/${d.hash}/${sizeOf(d)}` },
        this.metadata.clone(),
        {},
      );
      call.on("data", (m: Obj) => parts.push(Buffer.from((m.data as Uint8Array) ?? [])));
      call.on("error", (e: Error) => reject(this.fail(`ByteStream.Read ${digestKey(d)}`, e)));
      call.on("end", () => resolve(Buffer.concat(parts)));
    });
  }

  /** Download blobs (batched; large ones through ByteStream). */
  async download(digests: Digest[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    const unique = [...new Map(digests.map((d) => [digestKey(d), d])).values()];
    let batch: Digest[] = [];
    let bytes = 0;
    const flush = async () => {
      if (!batch.length) return;
      const r = await this.unary<{ responses?: { digest: Digest; data?: Uint8Array; status?: { code?: number; message?: string } }[] }>(
        `${V2}.ContentAddressableStorage`,
        "BatchReadBlobs",
        `${V2}.BatchReadBlobsRequest`,
        `${V2}.BatchReadBlobsResponse`,
        { instance_name: this.instanceName, digests: batch },
      );
      for (const x of r.responses ?? []) {
        if (x.status?.code)
          throw new ReapiError(`${this.label}: BatchReadBlobs: blob ${digestKey(x.digest)}: ${x.status.message ?? `code ${x.status.code}`}`, x.status.code);
        out.set(digestKey(x.digest), Buffer.from(x.data ?? []));
      }
      batch = [];
      bytes = 0;
    };
    for (const d of unique) {
      if (sizeOf(d) === 0) {
        out.set(digestKey(d), Buffer.alloc(0));
        continue;
      }
      if (sizeOf(d) > BATCH_BYTES / 2) {
        out.set(digestKey(d), await this.read(d));
        continue;
      }
      if (bytes + sizeOf(d) > BATCH_BYTES || batch.length >= 1000) await flush();
      batch.push(d);
      bytes += sizeOf(d);
    }
    await flush();
    return out;
  }

  /**
   * Execute an action and wait for its ExecuteResponse. `onStage` hears QUEUED/EXECUTING.
   * The stream may end without a result (a scheduler restart): the caller retries.
   */
  execute(action: Digest, opts: { skipCacheLookup?: boolean; signal?: AbortSignal; onStage?: (stage: string) => void } = {}): Promise<Obj> {
    const rq = codec(`${V2}.ExecuteRequest`);
    const op = codec("google.longrunning.Operation");
    return new Promise((resolve, reject) => {
      const call = this.client.makeServerStreamRequest(
        `/${V2}.Execution/Execute`,
        rq.ser,
        op.de,
        { instance_name: this.instanceName, action_digest: action, skip_cache_lookup: !!opts.skipCacheLookup },
        this.metadata.clone(),
        {},
      );
      let done = false;
      const onAbort = () => call.cancel();
      // One run's signal is shared by every action in flight (actions_in_flight, 64 by default).
      if (opts.signal) setMaxListeners(0, opts.signal);
      opts.signal?.addEventListener("abort", onAbort, { once: true });
      call.on("data", (o: Obj) => {
        const meta = o.metadata as { type_url?: string; value?: Uint8Array } | undefined;
        if (meta?.value && meta.type_url?.endsWith("ExecuteOperationMetadata")) {
          const m = decodeMessage<{ stage?: string }>(`${V2}.ExecuteOperationMetadata`, meta.value);
          if (m.stage) opts.onStage?.(m.stage);
        }
        if (!o.done) return;
        done = true;
        opts.signal?.removeEventListener("abort", onAbort);
        const err = o.error as { code?: number; message?: string } | undefined;
        if (err?.code) return reject(new ReapiError(`${this.label}: Execute: ${grpcLib().status[err.code] ?? err.code}: ${err.message ?? ""}`, err.code));
        const resp = o.response as { value?: Uint8Array } | undefined;
        resolve(decodeMessage(`${V2}.ExecuteResponse`, resp?.value ?? new Uint8Array()));
      });
      call.on("error", (e: Error) => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (!done) reject(this.fail("Execute", e));
      });
      call.on("end", () => {
        opts.signal?.removeEventListener("abort", onAbort);
        if (!done) reject(new ReapiError(`${this.label}: Execute: the stream ended before the action finished`, 14 /* UNAVAILABLE */));
      });
    });
  }
}
