/**
 * Wire codec of the iSulad flavour of `containerd.services.sandbox.v1.Controller` (iSulad's
 * src/api/services/sandbox/sandbox.proto, which Kuasar also serves). Same service path as
 * containerd 2.0's Controller, different messages: every request starts with `sandboxer = 1`,
 * `sandbox_id = 2`; Start and Status answer a `task_address`; and Prepare, Purge and
 * UpdateResources exist. The field numbers below are that file's. Pure.
 *
 * @module
 */
import { BinaryReader, BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { RuntimeError } from "../errors.ts";

export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly target: string;
  readonly options: readonly string[];
}

/** A google.protobuf.Any as iSulad fills it: JSON text in `value`, often with no type URL. */
export interface AnyValue {
  readonly typeUrl: string;
  readonly value: Uint8Array;
}

/** Fields common to every request; the others by name, absent ones at their zero value. */
export interface IsuladRequest {
  readonly sandboxer: string;
  readonly sandboxId: string;
  readonly containerId: string;
  readonly execId: string;
  readonly netnsPath: string;
  readonly rootfs: readonly Mount[];
  readonly options: AnyValue | undefined;
  readonly stdin: string;
  readonly stdout: string;
  readonly stderr: string;
  readonly terminal: boolean;
  readonly timeoutSecs: number;
  readonly verbose: boolean;
  readonly annotations: Readonly<Record<string, string>>;
}

/** Field numbers of each request message (iSulad's proto). */
const REQUEST_FIELDS = {
  Create: { rootfs: 3, options: 4, netnsPath: 5 },
  Start: {},
  Platform: {},
  Prepare: { containerId: 3, execId: 4, options: 5, rootfs: 6, stdin: 7, stdout: 8, stderr: 9, terminal: 10 },
  Purge: { containerId: 3, execId: 4 },
  UpdateResources: { containerId: 3, options: 4, annotations: 5 },
  Stop: { timeoutSecs: 3 },
  Wait: {},
  Status: { verbose: 3 },
  Shutdown: {},
} as const;

export type IsuladMethod = keyof typeof REQUEST_FIELDS;
export const ISULAD_METHODS: readonly IsuladMethod[] = [
  "Create",
  "Start",
  "Platform",
  "Prepare",
  "Purge",
  "UpdateResources",
  "Stop",
  "Wait",
  "Status",
  "Shutdown",
];

function pair(buf: Uint8Array): [string, string] {
  const rd = new BinaryReader(buf);
  let k = "", v = "";
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (no === 1 && wt === WireType.LengthDelimited) k = rd.string();
    else if (no === 2 && wt === WireType.LengthDelimited) v = rd.string();
    else rd.skip(wt, no);
  }
  return [k, v];
}

function decodeMount(buf: Uint8Array): Mount {
  const rd = new BinaryReader(buf);
  let type = "", source = "", target = "";
  const options: string[] = [];
  while (rd.pos < rd.len) {
    const [no, wt] = rd.tag();
    if (wt !== WireType.LengthDelimited) rd.skip(wt, no);
    else if (no === 1) type = rd.string();
    else if (no === 2) source = rd.string();
    else if (no === 3) target = rd.string();
    else if (no === 4) options.push(rd.string());
    else rd.skip(wt, no);
  }
  return { type, source, target, options };
}

function decodeAny(buf: Uint8Array): AnyValue {
  const [typeUrl, value] = (() => {
    const rd = new BinaryReader(buf);
    let t = "";
    let v: Uint8Array = new Uint8Array();
    while (rd.pos < rd.len) {
      const [no, wt] = rd.tag();
      if (no === 1 && wt === WireType.LengthDelimited) t = rd.string();
      else if (no === 2 && wt === WireType.LengthDelimited) v = rd.bytes();
      else rd.skip(wt, no);
    }
    return [t, v] as const;
  })();
  return { typeUrl, value };
}

/**
 * Decodes the request of `method`.
 *
 * @throws {RuntimeError} `InvalidArgument` on malformed input.
 */
export function decodeIsuladRequest(method: IsuladMethod, buf: Uint8Array): IsuladRequest {
  const f: Readonly<Record<string, number>> = REQUEST_FIELDS[method];
  let sandboxer = "", sandboxId = "", containerId = "", execId = "", netnsPath = "";
  let stdin = "", stdout = "", stderr = "", terminal = false, timeoutSecs = 0, verbose = false;
  let options: AnyValue | undefined;
  const rootfs: Mount[] = [];
  const annotations: Record<string, string> = {};
  try {
    const rd = new BinaryReader(buf);
    while (rd.pos < rd.len) {
      const [no, wt] = rd.tag();
      const ld = wt === WireType.LengthDelimited;
      if (no === 1 && ld) sandboxer = rd.string();
      else if (no === 2 && ld) sandboxId = rd.string();
      else if (no === f["containerId"] && ld) containerId = rd.string();
      else if (no === f["execId"] && ld) execId = rd.string();
      else if (no === f["netnsPath"] && ld) netnsPath = rd.string();
      else if (no === f["stdin"] && ld) stdin = rd.string();
      else if (no === f["stdout"] && ld) stdout = rd.string();
      else if (no === f["stderr"] && ld) stderr = rd.string();
      else if (no === f["rootfs"] && ld) rootfs.push(decodeMount(rd.bytes()));
      else if (no === f["options"] && ld) options = decodeAny(rd.bytes());
      else if (no === f["annotations"] && ld) {
        const [k, v] = pair(rd.bytes());
        annotations[k] = v;
      } else if (no === f["terminal"] && wt === WireType.Varint) terminal = rd.bool();
      else if (no === f["verbose"] && wt === WireType.Varint) verbose = rd.bool();
      else if (no === f["timeoutSecs"] && wt === WireType.Varint) timeoutSecs = rd.uint32();
      else rd.skip(wt, no);
    }
  } catch (cause) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid ${method} request: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
  }
  return {
    sandboxer,
    sandboxId,
    containerId,
    execId,
    netnsPath,
    rootfs,
    options,
    stdin,
    stdout,
    stderr,
    terminal,
    timeoutSecs,
    verbose,
    annotations,
  };
}

/** One response field: strings, uint32s, timestamps (Date), string maps, a Platform or an Any. */
export type ResponseValue =
  | { readonly kind: "string"; readonly no: number; readonly value: string }
  | { readonly kind: "uint32"; readonly no: number; readonly value: number }
  | { readonly kind: "timestamp"; readonly no: number; readonly value: Date | undefined }
  | { readonly kind: "map"; readonly no: number; readonly value: Readonly<Record<string, string>> }
  | { readonly kind: "platform"; readonly no: number; readonly os: string; readonly architecture: string }
  | { readonly kind: "any"; readonly no: number; readonly value: AnyValue | undefined };

/** Encodes a response message from its fields (zero values are left out, as proto3 does). */
export function encodeIsuladResponse(fields: readonly ResponseValue[]): Uint8Array {
  const w = new BinaryWriter();
  for (const f of fields) {
    switch (f.kind) {
      case "string":
        if (f.value !== "") w.tag(f.no, WireType.LengthDelimited).string(f.value);
        break;
      case "uint32":
        if (f.value !== 0) w.tag(f.no, WireType.Varint).uint32(f.value);
        break;
      case "timestamp": {
        if (f.value === undefined) break;
        const ms = f.value.getTime();
        const ts = new BinaryWriter();
        const s = Math.floor(ms / 1000);
        if (s !== 0) ts.tag(1, WireType.Varint).int64(s);
        const nanos = (ms - s * 1000) * 1_000_000;
        if (nanos !== 0) ts.tag(2, WireType.Varint).int32(nanos);
        w.tag(f.no, WireType.LengthDelimited).bytes(ts.finish());
        break;
      }
      case "map":
        for (const [k, v] of Object.entries(f.value)) {
          const e = new BinaryWriter().tag(1, WireType.LengthDelimited).string(k).tag(
            2,
            WireType.LengthDelimited,
          )
            .string(v).finish();
          w.tag(f.no, WireType.LengthDelimited).bytes(e);
        }
        break;
      case "platform": {
        const p = new BinaryWriter().tag(1, WireType.LengthDelimited).string(f.os).tag(
          2,
          WireType.LengthDelimited,
        )
          .string(f.architecture).finish();
        w.tag(f.no, WireType.LengthDelimited).bytes(p);
        break;
      }
      case "any": {
        if (f.value === undefined) break;
        const a = new BinaryWriter().tag(1, WireType.LengthDelimited).string(f.value.typeUrl)
          .tag(2, WireType.LengthDelimited).bytes(f.value.value).finish();
        w.tag(f.no, WireType.LengthDelimited).bytes(a);
        break;
      }
    }
  }
  return w.finish();
}
