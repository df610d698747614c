/**
 * Third-party plugins run confined: in a Worker that has exactly the Deno permissions its manifest
 * declares (and read access to its own module), never in the runtime's isolate. Only a local file
 * whose SHA-256 the configuration pins (`[plugins.integrity]`) is loaded; its top-level code runs
 * first in a Worker that may only read that file (to learn the manifest), then in the Worker with
 * the manifest's permissions. A plugin that reaches past its manifest gets Deno's PermissionDenied
 * inside its Worker, reported to the core as the plugin's error.
 *
 * The core calls the plugin through a proxy: every method of the backend (and of the objects it
 * returns, a VM for instance) is a message to the Worker; AbortSignals are forwarded as aborts;
 * the synchronous getters of the contract (capabilities, agentAddress, pids, saveState) answer from
 * the values the Worker sent with its last answer. Callbacks cannot cross (factory options), so a
 * confined factory plugin is refused.
 *
 * @module
 */
import { createHash } from "node:crypto";
import { fileURLToPath } from "node:url";
import { ERROR_CODES, PluginError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { PluginContext, PluginKind, PluginManifest } from "../../plugins/types.ts";
import { validateManifest } from "./manifest.ts";
import { workerMain } from "./_worker_main.ts";

type Msg = Record<string, unknown>;

interface Handle {
  readonly __handle: number;
  readonly methods: readonly string[];
  readonly sync: Record<string, unknown>;
  readonly data: Record<string, unknown>;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;
const isHandle = (x: unknown): x is Handle => isObj(x) && typeof x["__handle"] === "number";

/** The local file of a plugin's module. @throws {PluginError} for anything but a local file */
export function pluginFile(origin: string): string {
  if (origin.startsWith("file:")) return fileURLToPath(origin);
  if (origin.startsWith("/")) return origin;
  throw new PluginError(
    "InvalidArgument",
    `Cannot load plugin from "${origin}": only local files are loaded (no http(s) or other URLs)`,
  );
}

/** `sha256:<hex>` of a file's bytes. */
export async function fileDigest(path: string): Promise<string> {
  return `sha256:${createHash("sha256").update(await Deno.readFile(path)).digest("hex")}`;
}

/** Checks the module file against the pinned digest. @throws {PluginError} */
export async function checkIntegrity(name: string, path: string, pinned: string | undefined): Promise<void> {
  const actual = await fileDigest(path).catch((e) => {
    throw new PluginError("NotFound", `Cannot load plugin "${name}" from "${path}": ${String(e)}`, {
      cause: e,
    });
  });
  if (pinned === undefined) {
    throw new PluginError(
      "PermissionDenied",
      `Cannot load plugin "${name}" from "${path}": it is not pinned; add [plugins.integrity] ${name} = "${actual}" ` +
        "to the configuration once you trust this file",
    );
  }
  if (pinned.toLowerCase() !== actual) {
    throw new PluginError(
      "PermissionDenied",
      `Cannot load plugin "${name}" from "${path}": the file changed (pinned ${pinned}, now ${actual})`,
    );
  }
}

/** The Worker's permissions: the manifest's, plus reading its own module. Pure. */
export function workerPermissions(
  perms: Deno.PermissionOptionsObject,
  file: string,
): Deno.PermissionOptionsObject {
  const read = perms.read;
  return {
    env: false,
    ffi: false,
    import: false,
    net: false,
    run: false,
    sys: false,
    write: false,
    ...perms,
    read: read === true ? true : [...(Array.isArray(read) ? read.map(String) : []), file],
  };
}

/** One Worker and the calls in flight to it. */
class Conduit {
  readonly #worker: Worker;
  readonly #log: Logger;
  readonly #pending = new Map<number, { resolve: (m: Msg) => void; reject: (e: unknown) => void }>();
  readonly #sync = new Map<number, Record<string, unknown>>();
  #seq = 0;
  #dead: PluginError | undefined;
  /** Control messages (manifest, ready, the init's error) not yet asked for, and who waits. */
  readonly #control: (Msg | PluginError)[] = [];
  readonly #waiting: { resolve: (m: Msg) => void; reject: (e: unknown) => void }[] = [];

  constructor(worker: Worker, log: Logger, what: string) {
    this.#worker = worker;
    this.#log = log;
    worker.onmessage = (e: MessageEvent<Msg>) => this.#on(e.data);
    worker.onerror = (e) => {
      e.preventDefault();
      this.#fail(new PluginError("Internal", `${what} failed: ${e.message}`));
    };
  }

  /** The next control message (`manifest`, then `ready`). */
  control(): Promise<Msg> {
    const x = this.#control.shift();
    if (x instanceof PluginError) return Promise.reject(x);
    if (x !== undefined) return Promise.resolve(x);
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    return new Promise((resolve, reject) => this.#waiting.push({ resolve, reject }));
  }

  #controlIn(x: Msg | PluginError): void {
    const w = this.#waiting.shift();
    if (w === undefined) this.#control.push(x);
    else if (x instanceof PluginError) w.reject(x);
    else w.resolve(x);
  }

  #fail(err: PluginError): void {
    this.#dead = err;
    for (const w of this.#waiting.splice(0)) w.reject(err);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #on(m: Msg): void {
    if (m["t"] === "log") {
      const level = m["level"];
      const fields = isObj(m["fields"]) ? m["fields"] : {};
      const msg = String(m["msg"]);
      if (level === "error") this.#log.error(msg, fields);
      else if (level === "warn") this.#log.warn(msg, fields);
      else if (level === "info") this.#log.info(msg, fields);
      else this.#log.debug(msg, fields);
      return;
    }
    const seq = Number(m["seq"] ?? -2);
    if (seq === -1 || m["t"] === "manifest" || m["t"] === "ready") {
      this.#controlIn(m["t"] === "error" ? toError(m["error"]) : m);
      return;
    }
    const p = this.#pending.get(seq);
    if (p === undefined) return;
    this.#pending.delete(seq);
    if (m["t"] === "error") p.reject(toError(m["error"]));
    else p.resolve(m);
  }

  send(m: Msg): void {
    this.#worker.postMessage(m);
  }

  /** The last synchronous values of handle `id`. */
  sync(id: number): Record<string, unknown> {
    return this.#sync.get(id) ?? {};
  }

  setSync(id: number, values: unknown): void {
    if (isObj(values)) this.#sync.set(id, { ...this.sync(id), ...values });
  }

  call(handle: number, method: string, args: readonly unknown[]): Promise<unknown> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const seq = this.#seq++;
    const signals: AbortSignal[] = [];
    // AbortSignals cannot cross: the argument keeps a marker, an abort is sent instead
    const plain = args.map((a) => {
      if (isObj(a) && a["signal"] instanceof AbortSignal) {
        signals.push(a["signal"]);
        const { signal: _s, ...rest } = a;
        return { ...rest, __signal: true };
      }
      if (typeof a === "function") {
        throw new PluginError(
          "Unimplemented",
          `Cannot call ${method}() of a confined plugin with a callback`,
        );
      }
      return a;
    });
    const onAbort = () => this.send({ t: "abort", seq });
    for (const s of signals) s.addEventListener("abort", onAbort, { once: true });
    return new Promise<Msg>((resolve, reject) => {
      this.#pending.set(seq, { resolve, reject });
      this.send({ t: "call", seq, handle, method, args: plain });
    }).then((m) => {
      this.setSync(handle, m["sync"]);
      return this.wrap(m["value"]);
    }).finally(() => {
      for (const s of signals) s.removeEventListener("abort", onAbort);
    });
  }

  /** A handle's proxy; other values as they came. */
  wrap(v: unknown): unknown {
    if (!isHandle(v)) return v;
    const id = v.__handle;
    this.setSync(id, v.sync);
    const out: Record<string, unknown> = { ...v.data };
    for (const m of v.methods) {
      out[m] = m in v.sync ? () => this.sync(id)[m] : (...args: unknown[]) => this.call(id, m, args);
    }
    return out;
  }

  terminate(): void {
    this.#worker.terminate();
    this.#fail(new PluginError("Unavailable", "the plugin's worker was stopped"));
  }
}

function toError(x: unknown): PluginError {
  const e = isObj(x) ? x : {};
  const code = typeof e["code"] === "string" ? e["code"] : "Internal";
  const name = typeof e["name"] === "string" ? e["name"] : "Error";
  const message = typeof e["message"] === "string" ? e["message"] : "failed";
  // Deno's own errors come by class name (NotCapable: a permission the Worker lacks; NotFound)
  const c = name === "NotCapable"
    ? "PermissionDenied"
    : ERROR_CODES.find((k) => k === code) ?? ERROR_CODES.find((k) => k === name) ?? "Internal";
  return new PluginError(c, message);
}

const SOURCE = `(${workerMain.toString()})();`;

function startWorker(permissions: Deno.PermissionOptionsObject, log: Logger, what: string): Conduit {
  const url = URL.createObjectURL(new Blob([SOURCE], { type: "text/javascript" }));
  try {
    const w = new Worker(url, { type: "module", deno: { permissions } } as WorkerOptions);
    return new Conduit(w, log, what);
  } finally {
    URL.revokeObjectURL(url);
  }
}

/** Reads a confined plugin's manifest: its module runs in a Worker that may only read its file. */
export async function confinedManifest(name: string, file: string, log: Logger): Promise<PluginManifest> {
  const c = startWorker(workerPermissions({}, file), log, `plugin "${name}"`);
  try {
    c.send({ t: "init", url: new URL(`file://${file}`).href, create: false });
    const m = await c.control();
    return validateManifest(m["manifest"], file);
  } finally {
    c.terminate();
  }
}

/** Creates the plugin in its Worker and returns the proxy of its backend. */
export async function createConfined<K extends PluginKind>(
  manifest: PluginManifest<K>,
  file: string,
  ctx: PluginContext,
): Promise<{ instance: unknown; stop: () => void }> {
  if (manifest.kind === "factory") {
    throw new PluginError(
      "Unimplemented",
      `Cannot load factory plugin "${manifest.name}" confined: factory calls carry callbacks, which cannot reach a Worker`,
    );
  }
  if (Object.values(manifest.permissions).some((v) => v === "inherit")) {
    throw new PluginError(
      "InvalidArgument",
      `Cannot load plugin "${manifest.name}": a third-party plugin names its permissions ("inherit" is not allowed)`,
    );
  }
  const c = startWorker(workerPermissions(manifest.permissions, file), ctx.log, `plugin "${manifest.name}"`);
  c.send({
    t: "init",
    url: new URL(`file://${file}`).href,
    create: true,
    ctx: { config: ctx.config, runDir: ctx.runDir },
  });
  try {
    await c.control(); // the manifest
    const ready = await c.control();
    return { instance: c.wrap(ready["root"]), stop: () => c.terminate() };
  } catch (e) {
    c.terminate();
    throw e;
  }
}
