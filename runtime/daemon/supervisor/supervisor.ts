/**
 * The daemon's supervisor: what `cocoon daemon` runs. It owns the sockets containerd connects to
 * (`cocoon.sock`, each namespace's `ns-*.sock`) and every connection accepted on them, and runs the
 * daemon proper (`cocoon daemon --worker`) as its child. Each connection is relayed, frame by frame,
 * to the daemon's backend socket (relay.ts). When the daemon dies (kill -9, a crash, the OOM
 * killer) the supervisor starts it again; the new daemon adopts the live VMs and their tasks, and
 * the relays carry the connections over: containerd sees no shim go away.
 *
 * The supervisor holds no sandbox and parses nothing but frame headers and call names. It exits
 * when the daemon exits on purpose (idle, SIGTERM), after it, and gives up when the daemon dies
 * again and again (5 times in a minute): then the connections close, as they did before it existed.
 *
 * @module
 */
import { RuntimeError } from "../../errors.ts";
import type { Logger } from "../../log/logger.ts";
import { canConnect } from "../../shim/daemon_client.ts";
import { daemonPaths } from "../../shim/address.ts";
import { writeAtomic } from "../../sys/files.ts";
import { listenPrivate } from "../../sys/private_socket.ts";
import { type Dial, Relay } from "./relay.ts";
import { FdStore } from "./fd_store.ts";
import {
  encodeTag,
  lines,
  type LinkRequest,
  MAIN_TAG,
  parseLinkRequest,
  supervisorPaths,
  writeAll,
} from "./wire.ts";

/** How long a relay waits for a daemon to come back before it gives its client up. */
const DIAL_MS = 60_000;
/** Deaths in {@link CRASH_WINDOW_MS} after which the supervisor gives up. */
const MAX_CRASHES = 5;
const CRASH_WINDOW_MS = 60_000;

export interface SupervisorOptions {
  readonly dir: string;
  /** The daemon's command line. */
  readonly worker: { readonly cmd: string; readonly args: readonly string[] };
  readonly log: Logger;
}

interface Front {
  readonly tag: string;
  readonly listener: Deno.Listener;
  readonly ino: number | null;
}

interface Worker {
  readonly child: Deno.ChildProcess;
  readonly ready: PromiseWithResolvers<boolean>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs until the daemon exits on purpose (0) or keeps dying (1). */
export async function runSupervisor(opts: SupervisorOptions): Promise<number> {
  const { log } = opts;
  const paths = daemonPaths(opts.dir);
  const sp = supervisorPaths(opts.dir);
  const fronts = new Map<string, Front>();
  const relays = new Set<Relay>();
  const crashes: number[] = [];
  const stdio = new FdStore(log);
  let ending: "exiting" | "stopping" | "gave-up" | undefined;
  // set by the first spawn, before any link or relay reads it
  let worker!: Worker;

  const closeFronts = async () => {
    for (const [path, f] of fronts) {
      try {
        f.listener.close();
      } catch {
        // closed already
      }
      // a successor may listen there already: remove only our own socket
      const st = await Deno.stat(path).catch(() => null);
      if (st !== null && st.ino === f.ino) await Deno.remove(path).catch(() => {});
    }
    fronts.clear();
    for (const r of relays) r.close();
    relays.clear();
  };

  const dial: Dial = async (tag) => {
    for (const end = Date.now() + DIAL_MS; ending === undefined && Date.now() < end;) {
      const ok = await Promise.race([worker.ready.promise, sleep(500).then(() => false)]);
      if (ok) {
        try {
          const c = await Deno.connect({ transport: "unix", path: sp.backend });
          await writeAll(c, encodeTag(tag));
          return c;
        } catch {
          // not listening yet, or gone again
        }
      }
      await sleep(100);
    }
    return null;
  };

  const accept = async (f: Front) => {
    try {
      for await (const conn of f.listener) {
        if (ending !== undefined) {
          conn.close();
          continue;
        }
        const r = new Relay(conn, f.tag, dial, log);
        relays.add(r);
        void r.run().finally(() => relays.delete(r));
      }
    } catch {
      // closed
    }
  };

  const front = async (path: string, tag: string) => {
    const had = fronts.get(path);
    if (had !== undefined && had.tag === tag) return;
    if (had !== undefined) throw new Error(`"${path}" is fronted with another tag`);
    await Deno.remove(path).catch(() => {});
    const listener = await listenPrivate(path, (p) => Deno.listen({ transport: "unix", path: p }), {
      close: (l) => l.close(),
    });
    const f = { tag, listener, ino: (await Deno.stat(path).catch(() => null))?.ino ?? null };
    fronts.set(path, f);
    void accept(f);
  };

  const handle = async (req: LinkRequest, w: Worker): Promise<void> => {
    switch (req.op) {
      case "front":
        return await front(req.path, req.tag);
      case "hold":
        return await stdio.hold(req.key, req.stdio);
      case "release":
        return stdio.release(req.key);
      case "ready":
        stdio.keepOnly(new Set(req.keep));
        await front(paths.socket, MAIN_TAG);
        w.ready.resolve(true);
        log.info("daemon ready", { daemonPid: w.child.pid, connections: relays.size });
        return;
      case "exiting":
        ending ??= "exiting";
        await closeFronts();
        return;
    }
  };

  if (await canConnect(paths.socket)) {
    throw new RuntimeError(
      "AlreadyExists",
      `Cannot start the Cocoon daemon in "${opts.dir}": one already serves "${paths.socket}" (stop it first)`,
    );
  }
  // The link: one connection per daemon, JSON lines both ways.
  const link = await listenPrivate(sp.link, (p) => Deno.listen({ transport: "unix", path: p }), {
    close: (l) => l.close(),
  });
  void (async () => {
    for await (const conn of link) {
      const w = worker;
      void (async () => {
        for await (const line of lines(conn)) {
          let reply: { id: number; error?: string };
          try {
            const req = parseLinkRequest(line);
            reply = { id: req.id };
            await handle(req, w).catch((e) => (reply = { id: req.id, error: String(e) }));
          } catch (e) {
            reply = { id: 0, error: String(e) };
          }
          await writeAll(conn, new TextEncoder().encode(JSON.stringify(reply) + "\n")).catch(() => {});
        }
        conn.close();
      })();
    }
  })().catch(() => {});

  const spawn = (restart: boolean): Worker => {
    const child = new Deno.Command(opts.worker.cmd, {
      args: [...opts.worker.args],
      env: { COCOON_SUPERVISOR_LINK: sp.link, COCOON_SUPERVISOR_RESTART: restart ? "1" : "0" },
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // what a dying daemon printed (an uncaught error) goes to the log
    void (async () => {
      for await (const l of child.stderr.pipeThrough(new TextDecoderStream())) {
        log.warn("daemon stderr", { daemonPid: child.pid, text: l.slice(0, 4096) });
      }
    })().catch(() => {});
    const w: Worker = { child, ready: Promise.withResolvers<boolean>() };
    void child.status.then(() => w.ready.resolve(false));
    log.info("daemon started", { daemonPid: child.pid });
    return w;
  };

  const stop = () => {
    ending ??= "stopping";
    try {
      worker.child.kill("SIGTERM");
    } catch {
      // gone
    }
  };
  for (const s of ["SIGTERM", "SIGINT"] as const) Deno.addSignalListener(s, stop);
  await writeAtomic(sp.pidFile, String(Deno.pid));
  let code = 0;
  try {
    worker = spawn(false);
    for (let everReady = false;;) {
      const st = await worker.child.status;
      everReady ||= await worker.ready.promise;
      if (ending !== undefined) break;
      if (!everReady) {
        // it never served (a bad configuration, say): starting it again would fail the same way
        ending = "gave-up";
        code = 1;
        log.error("daemon failed to start", {
          daemonPid: worker.child.pid,
          code: st.code,
          signal: st.signal,
        });
        break;
      }
      const now = Date.now();
      crashes.push(now);
      while (crashes.length > 0 && crashes[0]! < now - CRASH_WINDOW_MS) crashes.shift();
      log.error("daemon died: starting it again", {
        daemonPid: worker.child.pid,
        code: st.code,
        signal: st.signal,
        connections: relays.size,
      });
      if (crashes.length >= MAX_CRASHES) {
        ending = "gave-up";
        code = 1;
        log.error("daemon keeps dying: giving up", { deaths: crashes.length, windowMs: CRASH_WINDOW_MS });
        break;
      }
      worker = spawn(true);
    }
  } finally {
    for (const s of ["SIGTERM", "SIGINT"] as const) Deno.removeSignalListener(s, stop);
    await closeFronts();
    stdio.releaseAll();
    link.close();
    await Deno.remove(sp.link).catch(() => {});
    const pid = await Deno.readTextFile(sp.pidFile).catch(() => "");
    if (pid.trim() === String(Deno.pid)) await Deno.remove(sp.pidFile).catch(() => {});
  }
  log.info("supervisor stopped", { why: ending });
  return code;
}
