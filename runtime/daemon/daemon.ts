/**
 * The Cocoon daemon: one per host, the owner of every sandbox that is not an OCI container's. It
 * serves containerd's Task API for every container of every pod on `<daemon dir>/cocoon.sock`, the
 * shim-side Sandbox service of containerd 1.7, the Sandbox API Controllers that `cocoon sandboxer`
 * asks for (containerd 2.0 and iSulad flavours, sandboxers.ts), and the management API of all of
 * them (`<daemon dir>/api.sock`). A small control service (`cocoon.daemon.v1.Shim`) serves the
 * shim binary (Register reserves a container id between `start` and `Create`, so the daemon does
 * not exit in between; Cleanup is the `delete` binary's forced removal) and `cocoon sandboxer`
 * (ServeSandboxer, StopSandboxer) and `cocoon factory` (ServeVmCache: the VM cache, vm_caches.ts).
 *
 * It exits (when `exitWhenIdle`) after a Shutdown once no container, no reservation and no
 * Controller is left.
 * Shutdown with `now` force-deletes that container first (whatever its state). Containers are known
 * by containerd namespace and id; a pod may use its own configuration file (containerd's runtime
 * options `ConfigPath`).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import type { SandboxRuntime } from "../sandbox/mod.ts";
import { TtrpcServer } from "../protocol/ttrpc/mod.ts";
import { type DaemonPaths, daemonPaths, namespaceSocket, podSandboxId } from "../shim/address.ts";
import { EventPublisher } from "./events.ts";
import { Pods, type PodsOptions } from "./pods.ts";
import { registerTaskService, type TaskServiceHooks } from "./task_service.ts";
import { registerShimSandboxService } from "../sandboxer/shim_sandbox_service.ts";
import { TaskManager } from "./tasks.ts";
import { taskKey } from "./proc.ts";
import { type FrontDoorApi, serveFrontDoorApi } from "../api/http/front_door.ts";
import { HostedSandboxers, parseServeSandboxer, parseStopSandboxer } from "./sandboxers.ts";
import { HostedVmCaches, parseServeVmCache } from "./vm_caches.ts";
import { writeAtomic } from "../sys/files.ts";
import { listenPrivate } from "../sys/private_socket.ts";
import { controlObject, parseHeldRequest } from "./control_request.ts";
import { HeldSandboxes } from "./held.ts";
import type { SupervisorLink } from "./supervisor/link.ts";
import { serveBackend } from "./supervisor/backend.ts";
import { MAIN_TAG, supervisorPaths } from "./supervisor/wire.ts";

export const CONTROL_SERVICE = "cocoon.daemon.v1.Shim";
/** How long a `start` reservation keeps the daemon up waiting for `Create`. */
const RESERVATION_MS = 120_000;

export interface DaemonOptions {
  /** The daemon directory (socket, pid file). */
  readonly dir: string;
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /** Exit after Shutdown once idle (the real daemon); tests keep an embedded daemon up. */
  readonly exitWhenIdle?: boolean;
  /** Opens the runtime of a pod's own configuration file (default: load it, open real plugins). */
  readonly runtimeFor?: PodsOptions["runtimeFor"];
  /**
   * The supervisor that owns the public sockets (`cocoon daemon` runs this daemon under one): the
   * daemon then listens on its backend socket only, and asks the supervisor for each namespace's.
   */
  readonly supervisor?: SupervisorLink;
  /** Started again after a crash: exit once idle without waiting for a Shutdown (none may come). */
  readonly restarted?: boolean;
}

export interface Daemon {
  readonly paths: DaemonPaths;
  readonly tasks: TaskManager;
  /** Resolves when the daemon stopped serving (idle exit or `close`). */
  readonly done: Promise<void>;
  /** Stops serving: removes the socket and pid file, flushes events. With `deletePods`, deletes every pod. */
  close(opts?: { deletePods?: boolean }): Promise<void>;
}

interface ControlRequest {
  readonly id: string;
  /** containerd namespace ("" when the caller sent none). */
  readonly namespace: string;
  /** Cleanup: the container's pod group and core id (the shim's registration), when it knows them. */
  readonly group?: string;
  readonly coreId?: string;
}

function parseControl(payload: Uint8Array): ControlRequest {
  const x = controlObject(payload, "control");
  const id = x["id"], ns = x["namespace"] ?? "";
  if (typeof id !== "string" || id === "") {
    throw new RuntimeError("InvalidArgument", 'Invalid control request: "id" must be a non-empty string');
  }
  if (typeof ns !== "string") {
    throw new RuntimeError("InvalidArgument", 'Invalid control request: "namespace" must be a string');
  }
  const group = x["group"], coreId = x["coreId"];
  return {
    id,
    namespace: ns,
    ...(typeof group === "string" && group !== "" ? { group } : {}),
    ...(typeof coreId === "string" && coreId !== "" ? { coreId } : {}),
  };
}

const enc = new TextEncoder();
const reply = (x: unknown) => enc.encode(JSON.stringify(x));

/** Starts serving; resolves once the socket listens. */
export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const paths = daemonPaths(opts.dir);
  const log = opts.log;
  await Deno.mkdir(paths.dir, { recursive: true, mode: 0o700 });
  const events = new EventPublisher(log.child({ subsystem: "events" }));
  const held = new HeldSandboxes(log.child({ subsystem: "held" }));
  const pods = new Pods(
    opts.runtime,
    log.child({ subsystem: "pods" }),
    { held, ...(opts.runtimeFor ? { runtimeFor: opts.runtimeFor } : {}) },
  );
  const tasks = new TaskManager(pods, events, log.child({ subsystem: "tasks" }), undefined, opts.supervisor);
  const hosted = new HostedSandboxers(
    (p) => pods.runtimeOf(p),
    log.child({ subsystem: "sandboxer" }),
    (id) => held.claim(id),
  );
  const caches = new HostedVmCaches(log.child({ subsystem: "vm-cache" }), () => idleSoon());
  const server = new TtrpcServer({ log: log.child({ subsystem: "ttrpc-server" }) });
  /** By task key (namespace and id). */
  const reservations = new Map<string, { id: string; namespace: string; until: number }>();
  const finished = Promise.withResolvers<void>();
  let shutdownAsked = opts.restarted === true;
  // a shim that reserved an id with the dead daemon sends its Create soon: do not exit before
  if (opts.restarted === true) reservations.set("", { id: "", namespace: "", until: Date.now() + 5000 });
  let closing: Promise<void> | undefined;
  let socketIno: number | null = null;
  const link = opts.supervisor;
  /** The socket this process listens on: the public one, or the backend the supervisor relays to. */
  let backend: Deno.Listener | undefined;
  const ownSocket = link !== undefined ? supervisorPaths(paths.dir).backend : paths.socket;
  let api: FrontDoorApi | undefined;

  const live = () => {
    const now = Date.now();
    for (const [key, r] of reservations) {
      if (r.until < now || (r.namespace !== "" && tasks.find(r.id, r.namespace))) reservations.delete(key);
    }
    return reservations.size;
  };
  const idle = () =>
    opts.exitWhenIdle === true && shutdownAsked && tasks.size === 0 && live() === 0 &&
    sandboxes.size === 0 && hosted.size === 0 && caches.size === 0 && held.size === 0;
  const maybeExit = () => {
    if (!idle()) return;
    setTimeout(() => {
      if (!idle() || closing !== undefined) return;
      log.info("idle: exiting");
      void close();
    }, 10);
  };
  /** A client is done with something: the daemon exits soon when nothing else is left. */
  const idleSoon = () => {
    shutdownAsked = true;
    setTimeout(maybeExit, 10);
  };
  const refuseWhenClosing = (what: string) => {
    if (closing !== undefined) throw new RuntimeError("Unavailable", `Cannot ${what}: the daemon is exiting`);
  };
  const sweep = setInterval(() => {
    // a library sandbox whose program died, or one a dead daemon of another store left
    if (closing === undefined) {
      void held.sweep().catch((e) => log.warn("take-over sweep failed", { error: e }));
    }
    maybeExit();
  }, 5000);
  Deno.unrefTimer(sweep);

  const close = (o: { deletePods?: boolean } = {}): Promise<void> => {
    closing ??= (async () => {
      clearInterval(sweep);
      // the supervisor stops answering containerd first, and exits after us
      await link?.exiting().catch((e) => log.warn("supervisor not told of the exit", { error: e }));
      link?.close();
      try {
        backend?.close();
      } catch {
        // closed already
      }
      await server.close();
      await api?.close();
      for (const s of nsClosers) await s.close();
      // A successor daemon may already listen on the path: remove only our own socket and pid file.
      const st = await Deno.stat(ownSocket).catch(() => null);
      if (st !== null && st.ino === socketIno) await Deno.remove(ownSocket).catch(() => {});
      await hosted.closeAll({ deleteSandboxes: o.deletePods === true });
      await caches.closeAll();
      if (o.deletePods === true) await pods.closeAll();
      await held.releaseAll();
      tasks.close();
      await Promise.race([events.flush(), new Promise((r) => setTimeout(r, 5000))]);
      events.close();
      const pid = await Deno.readTextFile(paths.pidFile).catch(() => "");
      if (pid.trim() === String(Deno.pid)) await Deno.remove(paths.pidFile).catch(() => {});
      finished.resolve();
    })();
    return closing;
  };

  const hooks: TaskServiceHooks = {
    shutdown: async (id, now, ns) => {
      log.debug("shutdown asked", { container: id, namespace: ns, now, containers: tasks.size });
      shutdownAsked = true;
      if (now) {
        // This container's shim is to go now: kill and delete what is left of it.
        reservations.delete(taskKey(ns, id));
        await tasks.forceDelete(id, ns).catch((e) =>
          log.warn("shutdown now: delete failed", { container: id, namespace: ns, error: e })
        );
      }
      maybeExit();
    },
  };
  registerTaskService(server, tasks, hooks);
  /**
   * One Task API server per containerd namespace on its own socket (`namespaceSocket`): containerd
   * 1.6 leaves the namespace out of most calls' metadata, and each task's shim connection is its
   * own, so the socket tells the namespace. A pod shim (1.7 sandbox mode) keeps the main socket.
   */
  const nsServers = new Map<string, TtrpcServer>();
  const nsSockets = new Map<string, Promise<string>>();
  const nsClosers: TtrpcServer[] = [];
  const nsServer = (namespace: string): TtrpcServer => {
    let s = nsServers.get(namespace);
    if (s === undefined) {
      s = new TtrpcServer({ log: log.child({ subsystem: "ttrpc-server", namespace }) });
      registerTaskService(s, tasks, hooks, { namespace });
      nsClosers.push(s);
      nsServers.set(namespace, s);
    }
    return s;
  };
  const namespaceAddress = (namespace: string): Promise<string> => {
    let p = nsSockets.get(namespace);
    if (p === undefined) {
      p = (async () => {
        const socket = namespaceSocket(paths.dir, namespace);
        if (link !== undefined) await link.front(socket, `ns:${namespace}`);
        else await nsServer(namespace).listen(socket, { replace: true, mode: 0o600 });
        return `unix://${socket}`;
      })();
      p.catch(() => nsSockets.delete(namespace));
      nsSockets.set(namespace, p);
    }
    return p;
  };
  // containerd 1.7's CRI sandbox server (sandbox_mode "shim") drives pods through this service.
  const sandboxes = registerShimSandboxService(server, {
    pods,
    log: log.child({ subsystem: "shim-sandbox" }),
    onShutdown: (id) => {
      for (const [key, r] of reservations) if (r.id === id) reservations.delete(key);
      shutdownAsked = true;
      maybeExit();
    },
  });
  server.register(CONTROL_SERVICE, {
    Register: async (payload) => {
      const { id, namespace } = parseControl(payload);
      refuseWhenClosing(`reserve container "${id}"`);
      reservations.set(taskKey(namespace, id), { id, namespace, until: Date.now() + RESERVATION_MS });
      // `address` serves every service; `taskAddress` is the namespace's own Task API socket.
      const taskAddress = namespace === "" ? paths.address : await namespaceAddress(namespace);
      return reply({ address: paths.address, taskAddress });
    },
    Cleanup: async (payload) => {
      const { id, namespace, group, coreId } = parseControl(payload);
      reservations.delete(taskKey(namespace, id));
      if (tasks.find(id, namespace) === undefined) {
        // A container of a pod a previous daemon held (taken over at start): removed here, the
        // pod's VM with its last container.
        await held.removeContainer(podSandboxId(namespace, group ?? id), coreId ?? id);
      }
      const r = await tasks.forceDelete(id, namespace);
      setTimeout(maybeExit, 10);
      return reply({ pid: r.pid, exitStatus: r.exit.exitStatus, exitedAt: r.exit.exitedAt.toISOString() });
    },
    ServeSandboxer: async (payload) => {
      const req = parseServeSandboxer(payload);
      refuseWhenClosing(`serve a sandboxer on "${req.listen}"`);
      return reply(await hosted.serve(req));
    },
    ServeVmCache: async (payload) => {
      const { configPath } = parseServeVmCache(payload);
      refuseWhenClosing("serve a VM cache");
      return reply(await caches.serve(await pods.runtimeOf(configPath)));
    },
    HoldSandbox: async (payload) => {
      const { id, configPath } = parseHeldRequest(payload, "HoldSandbox");
      refuseWhenClosing(`hold sandbox "${id}"`);
      await held.hold(await pods.runtimeOf(configPath), id);
      return reply({});
    },
    LendSandbox: async (payload) => {
      const { id } = parseHeldRequest(payload, "LendSandbox");
      await held.lend(id);
      // a daemon that only kept library sandboxes exits once it keeps none
      idleSoon();
      return reply({});
    },
    StopSandboxer: async (payload) => {
      const stopped = await hosted.stop(parseStopSandboxer(payload));
      idleSoon();
      return reply({ stopped });
    },
  });
  // Before the first call is served: a shim that reached the daemon finds its pid file.
  await writeAtomic(paths.pidFile, String(Deno.pid));
  // Before serving: what a previous daemon held in this store is ours again (front doors claim it),
  // and so are its containerd tasks, with their exits watched (a restart under a supervisor).
  await held.watch(opts.runtime).catch((e) => log.warn("take-over at start failed", { error: e }));
  await tasks.adoptHeld(held).catch((e) => log.warn("task adoption failed", { error: e }));
  if (link !== undefined) {
    // tags: "main" (cocoon.sock), "ns:<namespace>"
    backend = await serveBackend(
      ownSocket,
      (tag) => tag === MAIN_TAG ? server : tag.startsWith("ns:") ? nsServer(tag.slice(3)) : undefined,
      log.child({ subsystem: "backend" }),
    );
  } else {
    // Listened on here (not by the server) so that closing removes the socket only while it is ours.
    const listener = await listenPrivate(paths.socket, (p) => Deno.listen({ transport: "unix", path: p }), {
      close: (x) => x.close(),
    });
    void server.serve(listener);
  }
  socketIno = (await Deno.stat(ownSocket)).ino;
  /** The API's pause and resume: a Controller's or held sandbox itself, else each of its tasks. */
  const pauseOrResume = async (id: string, kind: "pause" | "resume") => {
    const sb = hosted.byCoreId(id) ?? held.get(id);
    if (sb !== undefined) return await sb.act({ kind });
    for (const t of tasks.inSandbox(id)) await tasks[kind](t.id, t.namespace);
  };
  // The management API of these pods (`<dir>/api.sock`); containerd owns their lifecycle, so pause
  // and resume go through the tasks (containerd sees PAUSED) and deletion is refused.
  try {
    api = await serveFrontDoorApi({
      dir: paths.dir,
      listen: opts.runtime.config.runtime.apiListen,
      runtime: opts.runtime,
      stores: () => pods.openedRuntimes(),
      log: log.child({ subsystem: "api" }),
      inProcess: (id) => pods.bySandboxId(id) ?? hosted.byCoreId(id) ?? held.get(id),
      refuseDelete: (id) =>
        held.kindOf(id) === "library"
          ? undefined
          : hosted.byCoreId(id) !== undefined
          ? `Cannot delete sandbox "${id}": its Sandbox API client owns its lifecycle (cocoon daemon, pid ${Deno.pid}): shut it down there`
          : `Cannot delete sandbox "${id}": containerd owns its lifecycle (cocoon daemon, pid ${Deno.pid}): ` +
            "remove its containers through containerd (ctr task kill/rm, ctr container rm, crictl rmp)",
      deleteInProcess: async (id) => {
        await held.delete(id);
        idleSoon();
      },
      pause: (id) => pauseOrResume(id, "pause"),
      resume: (id) => pauseOrResume(id, "resume"),
    });
  } catch (e) {
    log.error("management API not served", { error: e });
  }
  if (link !== undefined) {
    await link.ready(tasks.holds.keys());
    void link.lost.then(() => {
      // nobody answers containerd now: exit, leaving the VMs to the next daemon
      if (closing === undefined) log.error("supervisor gone: exiting");
      void close();
    });
  }
  log.info("daemon listening", { socket: paths.socket, pid: Deno.pid, supervised: link !== undefined });
  return { paths, tasks, done: finished.promise, close };
}
