/**
 * The body of a confined plugin's Worker (confined.ts). It is sent to the Worker as source text
 * (`workerMain.toString()`), so that it needs no file beside the installed program: it must not
 * refer to anything outside itself, and it uses only what a Worker has (postMessage, import()).
 *
 * Messages in: `init` (import the plugin; `create` it unless only its manifest is wanted), `call`
 * (a method of a handle), `abort` (a call's AbortSignal fired). Out: `manifest`, `ready`, `result`,
 * `error`, `log`. Objects with methods that a call returns become handles; the values of their
 * argument-less synchronous methods (capabilities, agentAddress, pids, saveState) travel with every
 * answer about them, since the other side cannot wait for them.
 *
 * @module
 */

/** Runs in the Worker. Self-contained. */
export function workerMain(): void {
  type Msg = Record<string, unknown>;
  const SYNC = ["capabilities", "agentAddress", "pids", "saveState"];
  const scope = globalThis as unknown as {
    postMessage(m: unknown): void;
    onmessage: ((e: { data: Msg }) => void) | null;
  };
  const handles = new Map<number, Record<string, unknown>>();
  const aborts = new Map<number, AbortController>();
  let next = 0;
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === "object" && x !== null;
  const methodsOf = (o: Record<string, unknown>): string[] => {
    const names = new Set<string>();
    for (let p: unknown = o; isObj(p) && p !== Object.prototype; p = Object.getPrototypeOf(p)) {
      for (const k of Object.getOwnPropertyNames(p)) {
        if (k !== "constructor" && typeof o[k] === "function") names.add(k);
      }
    }
    return [...names];
  };
  const snapshot = (o: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const k of SYNC) {
      const f = o[k];
      if (typeof f === "function" && f.length === 0) {
        try {
          out[k] = (f as () => unknown).call(o);
        } catch {
          // not available now (a VM not started): asked again after the next call
        }
      }
    }
    return out;
  };
  const describe = (v: unknown): unknown => {
    if (!isObj(v) || Array.isArray(v) || methodsOf(v).length === 0) return v;
    const id = next++;
    handles.set(id, v);
    const data: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      if (typeof x === "function") continue;
      try {
        data[k] = structuredClone(x);
      } catch {
        // not cloneable (a socket, a stream): stays in the Worker
      }
    }
    return { __handle: id, methods: methodsOf(v), sync: snapshot(v), data };
  };
  const errorOf = (e: unknown) => ({
    name: isObj(e) && typeof e["name"] === "string" ? e["name"] : "Error",
    code: isObj(e) && typeof e["code"] === "string" ? e["code"] : "Internal",
    message: isObj(e) && typeof e["message"] === "string" ? e["message"] : String(e),
  });
  const log = (level: string) => (msg: string, fields?: unknown) => {
    let safe: unknown;
    try {
      safe = JSON.parse(JSON.stringify(fields ?? {}));
    } catch {
      safe = {};
    }
    scope.postMessage({ t: "log", level, msg, fields: safe });
  };
  const logger: Record<string, unknown> = {
    debug: log("debug"),
    info: log("info"),
    warn: log("warn"),
    error: log("error"),
  };
  logger["child"] = () => logger;
  logger["limited"] = logger;
  scope.onmessage = async (e) => {
    const m = e.data;
    if (m["t"] === "init") {
      try {
        const mod: unknown = await import(String(m["url"]));
        const def = isObj(mod) ? mod["default"] : undefined;
        if (!isObj(def) || typeof def["create"] !== "function") {
          throw new Error('its default export has no "create" function');
        }
        scope.postMessage({ t: "manifest", manifest: def["manifest"] });
        if (m["create"] !== true) return;
        const ctx = { ...(isObj(m["ctx"]) ? m["ctx"] : {}), log: logger };
        const instance: unknown = await (def["create"] as (c: unknown) => Promise<unknown>).call(def, ctx);
        scope.postMessage({ t: "ready", root: describe(instance) });
      } catch (err) {
        scope.postMessage({ t: "error", seq: -1, error: errorOf(err) });
      }
      return;
    }
    if (m["t"] === "abort") {
      aborts.get(Number(m["seq"]))?.abort();
      return;
    }
    if (m["t"] !== "call") return;
    const seq = Number(m["seq"]);
    const h = handles.get(Number(m["handle"]));
    try {
      if (h === undefined) throw new Error(`no handle ${String(m["handle"])}`);
      const f = h[String(m["method"])];
      if (typeof f !== "function") throw new Error(`no method "${String(m["method"])}"`);
      const ac = new AbortController();
      aborts.set(seq, ac);
      // an argument object whose signal was stripped gets this call's own
      const args = (Array.isArray(m["args"]) ? m["args"] : []).map((a: unknown) =>
        isObj(a) && a["__signal"] === true ? { ...a, __signal: undefined, signal: ac.signal } : a
      );
      const value: unknown = await (f as (...a: unknown[]) => unknown).apply(h, args);
      scope.postMessage({ t: "result", seq, value: describe(value), sync: snapshot(h) });
    } catch (err) {
      scope.postMessage({ t: "error", seq, error: errorOf(err), sync: h === undefined ? {} : snapshot(h) });
    } finally {
      aborts.delete(seq);
    }
  };
}
