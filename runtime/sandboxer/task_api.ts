/**
 * The Task API (`containerd.task.v2.Task`, ttRPC) of the sandboxer's sandboxes, served in the
 * sandboxer's own process on `<dir>/task.sock`: the address that Start returns. It reuses the
 * daemon's task manager; containers join the sandbox that the Controller started (grouped by the
 * `io.kubernetes.cri.sandbox-id` annotation, which containerd's CRI sets to the sandbox id), and
 * leaving never deletes it (Controller.Shutdown does).
 *
 * @module
 */
import { RuntimeError } from "../errors.ts";
import type { Logger } from "../log/logger.ts";
import { EventPublisher } from "../daemon/events.ts";
import { type JoinOptions, Pods } from "../daemon/pods.ts";
import { registerTaskService } from "../daemon/task_service.ts";
import { TaskManager } from "../daemon/tasks.ts";
import { TtrpcServer } from "../protocol/ttrpc/mod.ts";
import type { Sandbox, SandboxRuntime } from "../sandbox/mod.ts";

export interface TaskApiOptions {
  /** Directory of the socket (`<dir>/task.sock`). */
  readonly dir: string;
  readonly runtime: SandboxRuntime;
  readonly log: Logger;
  /** The running sandbox of a containerd sandbox id, if the Controller started it. */
  readonly sandboxOf: (id: string) => Sandbox | undefined;
  /** containerd's ttRPC address and namespace for task events ("" publishes none). */
  readonly events?: { readonly ttrpcAddress: string; readonly namespace: string };
}

export interface TaskApi {
  readonly socket: string;
  readonly tasks: TaskManager;
  close(): Promise<void>;
}

/** Pods whose sandboxes belong to the Controller: join finds them, leave keeps them. */
class ControllerPods extends Pods {
  readonly #sandboxOf: (id: string) => Sandbox | undefined;
  readonly #members = new Map<string, Set<string>>();

  constructor(rt: SandboxRuntime, log: Logger, sandboxOf: (id: string) => Sandbox | undefined) {
    super(rt, log);
    this.#sandboxOf = sandboxOf;
  }

  override join(group: string, member: string, _opts: JoinOptions): Promise<Sandbox> {
    const sb = this.#sandboxOf(group);
    if (sb === undefined) {
      return Promise.reject(
        new RuntimeError(
          "FailedPrecondition",
          `Cannot create container "${member}": sandbox "${group}" is not running in this sandboxer`,
        ),
      );
    }
    let m = this.#members.get(group);
    if (m === undefined) this.#members.set(group, m = new Set());
    m.add(member);
    return Promise.resolve(sb);
  }

  override leave(group: string, member: string): Promise<void> {
    const m = this.#members.get(group);
    m?.delete(member);
    if (m?.size === 0) this.#members.delete(group);
    return Promise.resolve();
  }

  override closeAll(): Promise<void> {
    this.#members.clear();
    return Promise.resolve();
  }
}

/** Starts serving the Task API; resolves once the socket listens. */
export async function startTaskApi(opts: TaskApiOptions): Promise<TaskApi> {
  const socket = `${opts.dir}/task.sock`;
  const log = opts.log;
  await Deno.mkdir(opts.dir, { recursive: true, mode: 0o700 });
  const events = new EventPublisher(log.child({ subsystem: "events" }));
  const pods = new ControllerPods(opts.runtime, log.child({ subsystem: "pods" }), opts.sandboxOf);
  const tasks = new TaskManager(pods, events, log.child({ subsystem: "tasks" }), {
    namespace: opts.events?.namespace ?? "",
    ttrpcAddress: opts.events?.ttrpcAddress ?? "",
  });
  const server = new TtrpcServer({ log: log.child({ subsystem: "ttrpc-server" }) });
  registerTaskService(server, tasks, { shutdown: () => {} });
  await Deno.remove(socket).catch(() => {});
  let listener: Deno.Listener;
  try {
    listener = Deno.listen({ transport: "unix", path: socket });
  } catch (e) {
    throw new RuntimeError("Unavailable", `Cannot listen on "${socket}": ${String(e)}`, { cause: e });
  }
  await Deno.chmod(socket, 0o600);
  void server.serve(listener);
  let closing: Promise<void> | undefined;
  return {
    socket,
    tasks,
    close: () =>
      closing ??= (async () => {
        await server.close();
        await Deno.remove(socket).catch(() => {});
        await Promise.race([events.flush(), new Promise((r) => setTimeout(r, 2000))]);
        events.close();
      })(),
  };
}
