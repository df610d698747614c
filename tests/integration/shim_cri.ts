/**
 * A CRI test kit: a private containerd 1.6 with its CRI plugin on (runtime handler `cocoon`), and a
 * small CRI client (`runtime.v1.RuntimeService` over gRPC on containerd's socket) whose messages
 * are encoded by hand with the upstream field numbers (only the fields the tests use).
 *
 * @module
 */
import { spawnContainerd } from "../utils/containerd_process.ts";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";

// Protobuf, the few wire types needed -------------------------------------------------------------

type Field = readonly [number, string | number | boolean | Uint8Array | undefined];

function varint(n: bigint, out: number[]): void {
  let v = BigInt.asUintN(64, n);
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/** Encodes a message: strings and byte arrays length-delimited, numbers and booleans as varints. */
export function pb(fields: readonly Field[]): Uint8Array {
  const out: number[] = [];
  for (const [num, v] of fields) {
    if (v === undefined) continue;
    if (typeof v === "number" || typeof v === "boolean") {
      varint(BigInt(num << 3), out);
      varint(BigInt(typeof v === "boolean" ? (v ? 1 : 0) : v), out);
    } else {
      const b = typeof v === "string" ? new TextEncoder().encode(v) : v;
      varint(BigInt((num << 3) | 2), out);
      varint(BigInt(b.length), out);
      out.push(...b);
    }
  }
  return Uint8Array.from(out);
}

/** A map entry (map<string,string>). */
export const entry = (k: string, v: string): Uint8Array => pb([[1, k], [2, v]]);

/** Decodes a message into field number -> values (varints as bigint, the rest as bytes). */
export function unpb(b: Uint8Array): Map<number, (bigint | Uint8Array)[]> {
  const out = new Map<number, (bigint | Uint8Array)[]>();
  let i = 0;
  const read = (): bigint => {
    let r = 0n;
    let s = 0n;
    for (;;) {
      const x = b[i++] ?? 0;
      r |= BigInt(x & 0x7f) << s;
      if ((x & 0x80) === 0) return r;
      s += 7n;
    }
  };
  while (i < b.length) {
    const key = Number(read());
    const num = key >> 3;
    let v: bigint | Uint8Array;
    switch (key & 7) {
      case 0:
        v = read();
        break;
      case 2: {
        const len = Number(read());
        v = b.subarray(i, i + len);
        i += len;
        break;
      }
      case 1:
        v = b.subarray(i, i + 8);
        i += 8;
        break;
      case 5:
        v = b.subarray(i, i + 4);
        i += 4;
        break;
      default:
        throw new Error(`unsupported wire type ${key & 7}`);
    }
    out.set(num, [...(out.get(num) ?? []), v]);
  }
  return out;
}

export function str(m: Map<number, (bigint | Uint8Array)[]>, n: number): string {
  const v = m.get(n)?.[0];
  return v instanceof Uint8Array ? new TextDecoder().decode(v) : "";
}

export function num(m: Map<number, (bigint | Uint8Array)[]>, n: number): number {
  const v = m.get(n)?.[0];
  return typeof v === "bigint" ? Number(BigInt.asIntN(64, v)) : 0;
}

export function sub(
  m: Map<number, (bigint | Uint8Array)[]>,
  n: number,
): Map<number, (bigint | Uint8Array)[]> {
  const v = m.get(n)?.[0];
  return unpb(v instanceof Uint8Array ? v : new Uint8Array());
}

// CRI client ---------------------------------------------------------------------------------------

const SERVICE = "/runtime.v1.RuntimeService/";

/** Unary calls to `runtime.v1.RuntimeService` on a unix socket. */
export class CriClient {
  readonly #client: grpc.Client;
  constructor(socket: string) {
    this.#client = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }
  call(method: string, req: Uint8Array, timeoutMs = 300_000): Promise<Map<number, (bigint | Uint8Array)[]>> {
    return new Promise((resolve, reject) => {
      this.#client.makeUnaryRequest(
        SERVICE + method,
        (b: Uint8Array) => Buffer.from(b),
        (b: Buffer) => new Uint8Array(b),
        req,
        new grpc.Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, res) => {
          if (err) reject(new Error(`CRI ${method} failed: ${err.message}`));
          else resolve(unpb(res ?? new Uint8Array()));
        },
      );
    });
  }
  close(): void {
    this.#client.close();
  }
}

/** PodSandboxConfig for a host-network pod (no CNI needed). */
export function podConfig(name: string, uid: string, logDir: string): Uint8Array {
  const nsOptions = pb([[1, 2]]); // NamespaceOption.network = NODE
  const secCtx = pb([[1, nsOptions]]);
  return pb([
    [1, pb([[1, name], [2, uid], [3, "default"], [4, 0]])], // metadata
    [2, name], // hostname
    [3, logDir], // log_directory
    [8, pb([[2, secCtx]])], // linux.security_context
  ]);
}

/** ContainerConfig running `command` from `image`. */
export function containerConfig(
  name: string,
  image: string,
  command: readonly string[],
  logPath: string,
): Uint8Array {
  return pb([
    [1, pb([[1, name], [2, 0]])], // metadata
    [2, pb([[1, image]])], // image
    ...command.map((c) => [3, c] as const), // command
    [11, logPath], // log_path
  ]);
}

// containerd with CRI ------------------------------------------------------------------------------

export interface CriContainerd {
  readonly grpcAddress: string;
  readonly root: string;
  readonly state: string;
  readonly logPath: string;
  ctr(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  stop(): Promise<void>;
}

/** Starts containerd with CRI (sandbox image `pauseImage`, handler `cocoon`) under `dir`. */
export async function startCriContainerd(
  dir: string,
  pauseImage: string,
  env: Readonly<Record<string, string>>,
): Promise<CriContainerd> {
  const root = `${dir}/root`;
  const state = `${dir}/state`;
  const grpcAddress = `${dir}/ctrd.sock`;
  const logPath = `${dir}/containerd.log`;
  await Deno.mkdir(`${dir}/cni/conf`, { recursive: true });
  await Deno.mkdir(`${dir}/cni/bin`, { recursive: true });
  const cri = '[plugins."io.containerd.grpc.v1.cri"]';
  await Deno.writeTextFile(
    `${dir}/config.toml`,
    `version = 2
root = "${root}"
state = "${state}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "${grpcAddress}"
[ttrpc]
  address = "${grpcAddress}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
${cri}
  sandbox_image = "${pauseImage}"
  disable_apparmor = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "cocoon"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.cocoon]
      runtime_type = "io.containerd.cocoon.v2"
`,
  );
  const { ctr, stop } = await spawnContainerd({
    containerd: "containerd",
    ctr: "ctr",
    configPath: `${dir}/config.toml`,
    grpcAddress,
    logPath,
    env,
    what: "containerd with CRI",
  });
  return { grpcAddress, root, state, logPath, ctr, stop };
}
