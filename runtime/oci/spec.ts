/**
 * The OCI runtime spec (config.json): validation of the parts Cocoon reads, keeping the whole
 * document so it reaches the guest's OCI runtime unchanged apart from paths.
 *
 * @module
 */
import * as v from "valibot";
import type { OciMount } from "../../plugins/types.ts";
import { RuntimeError } from "../errors.ts";

export type JsonObject = Readonly<Record<string, unknown>>;

export interface OciUser {
  readonly uid: number;
  readonly gid: number;
  readonly additionalGids?: readonly number[];
}

export interface OciProcess {
  readonly terminal: boolean;
  readonly args: readonly string[];
  readonly env: readonly string[];
  readonly cwd: string;
  readonly user: OciUser;
  /** The process object as given (capabilities, rlimits... travel unchanged). */
  readonly raw: JsonObject;
}

export interface OciSpec {
  readonly ociVersion: string;
  readonly process: OciProcess | null;
  readonly root: { readonly path: string; readonly readonly: boolean };
  readonly hostname: string | null;
  readonly mounts: readonly OciMount[];
  readonly annotations: Readonly<Record<string, string>>;
  /** Path of the network namespace named in linux.namespaces, or null. */
  readonly netns: string | null;
  /** The whole document as given. */
  readonly raw: JsonObject;
}

const nonEmpty = v.pipe(v.string(), v.minLength(1));
const abs = v.pipe(v.string(), v.startsWith("/", "must be an absolute path"));
const uint = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff));

const UserSchema = v.looseObject({
  uid: uint,
  gid: uint,
  additionalGids: v.optional(v.array(uint)),
});

const ProcessSchema = v.looseObject({
  terminal: v.optional(v.boolean()),
  args: v.pipe(v.array(v.string()), v.minLength(1, "must name a program")),
  env: v.optional(v.array(v.pipe(v.string(), v.includes("=", 'must be "NAME=value"')))),
  cwd: abs,
  user: v.optional(UserSchema),
});

const MountSchema = v.looseObject({
  destination: abs,
  type: v.optional(v.string()),
  source: v.optional(v.string()),
  options: v.optional(v.array(v.string())),
});

const SpecSchema = v.looseObject({
  ociVersion: nonEmpty,
  process: v.optional(ProcessSchema),
  root: v.looseObject({ path: nonEmpty, readonly: v.optional(v.boolean()) }),
  hostname: v.optional(v.string()),
  mounts: v.optional(v.array(MountSchema)),
  annotations: v.optional(v.record(v.string(), v.string())),
  linux: v.optional(v.looseObject({
    namespaces: v.optional(v.array(v.looseObject({ type: nonEmpty, path: v.optional(v.string()) }))),
  })),
});

/**
 * Validates a parsed config.json.
 *
 * @throws {RuntimeError} `InvalidArgument` naming `where`, the field and what is wrong.
 */
export function parseOciSpec(json: unknown, where: string): OciSpec {
  const r = v.safeParse(SpecSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid OCI spec "${where}"${path ? `: field "${path}"` : ""}: ${issue?.message ?? "malformed"}`,
    );
  }
  const s = r.output;
  const netns = s.linux?.namespaces?.find((n) => n.type === "network")?.path;
  return {
    ociVersion: s.ociVersion,
    process: s.process === undefined ? null : processOf(s.process),
    root: { path: s.root.path, readonly: s.root.readonly ?? false },
    hostname: s.hostname ?? null,
    mounts: (s.mounts ?? []).map((m) => ({
      destination: m.destination,
      ...(m.type !== undefined ? { type: m.type } : {}),
      ...(m.source !== undefined ? { source: m.source } : {}),
      ...(m.options !== undefined ? { options: m.options } : {}),
    })),
    annotations: s.annotations ?? {},
    netns: netns !== undefined && netns !== "" ? netns : null,
    raw: s,
  };
}

/** Validates an OCI `process` object (the `exec --process` file). */
export function parseOciProcess(json: unknown, where: string): OciProcess {
  const r = v.safeParse(ProcessSchema, json);
  if (!r.success) {
    const issue = r.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid OCI process "${where}"${path ? `: field "${path}"` : ""}: ${issue?.message ?? "malformed"}`,
    );
  }
  return processOf(r.output);
}

function processOf(p: v.InferOutput<typeof ProcessSchema>): OciProcess {
  const u = p.user;
  return {
    terminal: p.terminal ?? false,
    args: p.args,
    env: p.env ?? [],
    cwd: p.cwd,
    user: u === undefined
      ? { uid: 0, gid: 0 }
      : { uid: u.uid, gid: u.gid, ...(u.additionalGids ? { additionalGids: u.additionalGids } : {}) },
    raw: p,
  };
}

/** Parses config.json text. */
export function parseOciSpecText(text: string, where: string): OciSpec {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new RuntimeError(
      "InvalidArgument",
      `Invalid OCI spec "${where}": it is not JSON: ${(e as Error).message}`,
      {
        cause: e,
      },
    );
  }
  return parseOciSpec(json, where);
}

/** A minimal spec for `args` with `rootfs` (what `cocoon run` and tests start from). */
export function minimalSpec(
  args: readonly string[],
  opts: { terminal?: boolean; rootfs?: string } = {},
): JsonObject {
  return {
    ociVersion: "1.0.2",
    process: {
      terminal: opts.terminal ?? false,
      user: { uid: 0, gid: 0 },
      args: [...args],
      env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
      cwd: "/",
      capabilities: {
        bounding: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
        effective: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
        permitted: ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_KILL", "CAP_SETGID", "CAP_SETUID"],
      },
      noNewPrivileges: true,
    },
    root: { path: opts.rootfs ?? "rootfs", readonly: false },
    hostname: "cocoon",
    mounts: [
      { destination: "/proc", type: "proc", source: "proc" },
      {
        destination: "/dev",
        type: "tmpfs",
        source: "tmpfs",
        options: ["nosuid", "strictatime", "mode=755", "size=65536k"],
      },
      {
        destination: "/dev/pts",
        type: "devpts",
        source: "devpts",
        options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
      },
      {
        destination: "/dev/shm",
        type: "tmpfs",
        source: "shm",
        options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
      },
      { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
    ],
    linux: {
      namespaces: [{ type: "pid" }, { type: "ipc" }, { type: "uts" }, { type: "mount" }],
      maskedPaths: ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/sys/firmware"],
      readonlyPaths: ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
    },
  };
}
