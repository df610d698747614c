/**
 * The daemon's side of the supervisor: asks it to listen on public sockets for the daemon, says
 * when the daemon serves and when it exits on purpose, and tells the daemon when the supervisor
 * is gone (then nobody answers containerd: the daemon exits, leaving its VMs to its successor).
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import { lines, type LinkReply, type LinkRequest, writeAll } from "./wire.ts";
import type { HeldStdio } from "./fd_store.ts";

type Op = LinkRequest extends infer R ? R extends LinkRequest ? Omit<R, "id"> : never : never;

function parseReply(line: string): LinkReply | null {
  try {
    const x: unknown = JSON.parse(line);
    if (typeof x !== "object" || x === null || !("id" in x) || typeof x.id !== "number") return null;
    return "error" in x && typeof x.error === "string" ? { id: x.id, error: x.error } : { id: x.id };
  } catch {
    return null;
  }
}

export class SupervisorLink {
  readonly #conn: Deno.Conn;
  readonly #waiting = new Map<number, PromiseWithResolvers<void>>();
  readonly #lost = Promise.withResolvers<void>();
  #next = 1;

  private constructor(conn: Deno.Conn) {
    this.#conn = conn;
    void this.#read();
  }

  /** Connects to the supervisor's link socket. */
  static async connect(path: string): Promise<SupervisorLink> {
    try {
      return new SupervisorLink(await Deno.connect({ transport: "unix", path }));
    } catch (e) {
      throw new RuntimeError("Unavailable", `Cannot reach the daemon's supervisor at "${path}": ${e}`, {
        cause: e,
      });
    }
  }

  /** Resolves when the supervisor is gone. */
  get lost(): Promise<void> {
    return this.#lost.promise;
  }

  /** Has the supervisor answer on `path`, relaying its connections here tagged `tag`. */
  front(path: string, tag: string): Promise<void> {
    return this.#call({ op: "front", path, tag });
  }

  /** The backend socket serves: the supervisor answers on the public sockets, and keeps only `keep`'s stdio. */
  ready(keep: readonly string[]): Promise<void> {
    return this.#call({ op: "ready", keep });
  }

  /** Has the supervisor hold process `key`'s stdio FIFOs open (fd_store.ts). */
  hold(key: string, stdio: HeldStdio): Promise<void> {
    return this.#call({ op: "hold", key, stdio });
  }

  release(key: string): Promise<void> {
    return this.#call({ op: "release", key });
  }

  /** The daemon exits on purpose: the supervisor closes the public sockets and exits after it. */
  exiting(): Promise<void> {
    return this.#call({ op: "exiting" });
  }

  close(): void {
    try {
      this.#conn.close();
    } catch {
      // closed already
    }
  }

  async #call(op: Op): Promise<void> {
    const id = this.#next++;
    const w = Promise.withResolvers<void>();
    this.#waiting.set(id, w);
    const line = new TextEncoder().encode(JSON.stringify({ id, ...op }) + "\n");
    try {
      await writeAll(this.#conn, line);
    } catch (e) {
      this.#waiting.delete(id);
      throw new RuntimeError("Unavailable", `Cannot reach the daemon's supervisor: ${e}`, { cause: e });
    }
    return await w.promise;
  }

  async #read(): Promise<void> {
    for await (const line of lines(this.#conn)) {
      const r = parseReply(line);
      if (r === null) continue;
      const w = this.#waiting.get(r.id);
      this.#waiting.delete(r.id);
      if (r.error === undefined) w?.resolve();
      else w?.reject(new RuntimeError("Unavailable", `The daemon's supervisor refused: ${r.error}`));
    }
    for (const w of this.#waiting.values()) {
      w.reject(new RuntimeError("Unavailable", "The daemon's supervisor went away"));
    }
    this.#waiting.clear();
    this.#lost.resolve();
  }
}
