/**
 * Test helper: a private, real containerd (the host's `containerd` binary, 1.6 on Debian 12)
 * with its own root, state, gRPC and ttRPC sockets in a temp dir, plus `ctr` helpers.
 *
 * ```ts
 * const ctrd = await startContainerd();
 * try {
 *   const sub = await ctrd.subscribe();
 *   // ... drive containerd, then: await sub.waitFor((l) => l.includes("/tasks/exit"));
 * } finally {
 *   await ctrd.stop();
 * }
 * ```
 *
 * @module
 */

/** Options of {@link startContainerd}. */
export interface ContainerdOptions {
  /** containerd binary (default "containerd" from PATH). */
  readonly binary?: string;
  /** ctr binary (default "ctr" from PATH). */
  readonly ctrBinary?: string;
  /** TOML appended to the generated config.toml (e.g. runtime or proxy_plugins sections). */
  readonly extraConfig?: string;
  /** Plugins to disable besides CRI and the snapshotters that cannot work here. */
  readonly disabledPlugins?: readonly string[];
  /** Extra environment for the containerd process (e.g. a PATH that finds a shim binary). */
  readonly env?: Readonly<Record<string, string>>;
  /** Log level, default "info". "debug" makes containerd pass -debug to shims. */
  readonly logLevel?: "trace" | "debug" | "info" | "warn" | "error";
  /** Readiness timeout, default 15000 ms. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/** Result of {@link Containerd.ctr}. */
export interface CtrResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A running `ctr events` subscription. */
export interface EventSubscription {
  /** Every line printed so far. */
  readonly lines: readonly string[];
  /** Resolves with the first line (already printed or future) matching `pred`. */
  waitFor(pred: (line: string) => boolean, opts?: { timeoutMs?: number }): Promise<string>;
  /** Stops the `ctr events` process and waits for it. */
  close(): Promise<void>;
}

/** A private containerd instance. */
export interface Containerd {
  /** Temp dir holding everything below. */
  readonly dir: string;
  readonly root: string;
  readonly state: string;
  /** gRPC socket path (what `ctr -a` and shims' `-address` take). */
  readonly grpcAddress: string;
  /** ttRPC socket path (what shims get as TTRPC_ADDRESS; serves Events/Forward). */
  readonly ttrpcAddress: string;
  readonly configPath: string;
  /** containerd's combined stdout/stderr is copied here. */
  readonly logPath: string;
  /** containerd's pid (a new one after `crash`). */
  readonly pid: number;
  /** Runs `ctr -a <grpcAddress> ...args`. */
  ctr(args: readonly string[], opts?: { namespace?: string; signal?: AbortSignal }): Promise<CtrResult>;
  /**
   * Starts `ctr events` and resolves once the subscription is proven live (a namespace created
   * after it started was seen), so no later event can be missed.
   */
  subscribe(opts?: { timeoutMs?: number }): Promise<EventSubscription>;
  /** Reads containerd's log so far. */
  log(): Promise<string>;
  /**
   * SIGKILLs containerd and starts it again on the same configuration and state, as its service
   * manager would; resolves once it answers. Subscriptions end with the old process.
   */
  crash(): Promise<void>;
  /** SIGTERM (SIGKILL after 5 s), waits, unmounts leftovers under `dir`, removes `dir`. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

const ALWAYS_DISABLED = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
];

/** Starts a private containerd and waits until both sockets answer. */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<Containerd> {
  const dir = await Deno.makeTempDir({ prefix: "cocoon-ctrd-" });
  const root = `${dir}/root`;
  const state = `${dir}/state`;
  const grpcAddress = `${dir}/containerd.sock`;
  const ttrpcAddress = `${grpcAddress}.ttrpc`;
  const configPath = `${dir}/config.toml`;
  const logPath = `${dir}/containerd.log`;
  const disabled = [...ALWAYS_DISABLED, ...(opts.disabledPlugins ?? [])];
  const config = [
    "version = 2",
    `root = ${JSON.stringify(root)}`,
    `state = ${JSON.stringify(state)}`,
    `disabled_plugins = ${JSON.stringify(disabled)}`,
    "",
    "[grpc]",
    `  address = ${JSON.stringify(grpcAddress)}`,
    "",
    "[ttrpc]",
    `  address = ${JSON.stringify(ttrpcAddress)}`,
    "",
    "[debug]",
    `  level = ${JSON.stringify(opts.logLevel ?? "info")}`,
    "",
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${JSON.stringify(`${dir}/opt`)}`,
    "",
    opts.extraConfig ?? "",
  ].join("\n");
  await Deno.writeTextFile(configPath, config);

  const launch = async () => {
    const child = new Deno.Command(opts.binary ?? "containerd", {
      args: ["--config", configPath],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: opts.env ? { ...opts.env } : {},
    }).spawn();
    const logFile = await Deno.open(logPath, { write: true, create: true, append: true });
    const pumps = Promise.all([copyTo(child.stdout, logFile), copyTo(child.stderr, logFile)]).finally(() =>
      logFile.close()
    );
    return { child, pumps };
  };
  let child: Deno.ChildProcess, pumps: Promise<unknown>;
  try {
    ({ child, pumps } = await launch());
  } catch (e) {
    await Deno.remove(dir, { recursive: true });
    throw new Error(`Cannot start containerd: ${e instanceof Error ? e.message : e}`, { cause: e });
  }
  const ctrBinary = opts.ctrBinary ?? "ctr";
  let stopped: Promise<void> | undefined;
  const subscriptions = new Set<EventSubscription>();

  const handle: Containerd = {
    dir,
    root,
    state,
    grpcAddress,
    ttrpcAddress,
    configPath,
    logPath,
    get pid() {
      return child.pid;
    },
    crash: async () => {
      for (const s of subscriptions) await s.close().catch(() => {});
      subscriptions.clear();
      child.kill("SIGKILL");
      await child.status;
      await pumps.catch(() => {});
      ({ child, pumps } = await launch());
      await waitReady(handle, child, opts.timeoutMs ?? 15_000, opts.signal);
    },
    ctr: (args, o = {}) => runCtr(ctrBinary, grpcAddress, args, o),
    subscribe: async (o = {}) => {
      const sub = await subscribe(ctrBinary, grpcAddress, o.timeoutMs ?? 10_000);
      subscriptions.add(sub);
      return {
        get lines() {
          return sub.lines;
        },
        waitFor: (p, w) => sub.waitFor(p, w),
        close: async () => {
          subscriptions.delete(sub);
          await sub.close();
        },
      };
    },
    log: () => Deno.readTextFile(logPath),
    stop: () => {
      stopped ??= (async () => {
        for (const s of subscriptions) await s.close().catch(() => {});
        subscriptions.clear();
        await terminate(child);
        await pumps.catch(() => {});
        await unmountUnder(dir);
        await Deno.remove(dir, { recursive: true });
      })();
      return stopped;
    },
    [Symbol.asyncDispose]: () => handle.stop(),
  };

  try {
    await waitReady(handle, child, opts.timeoutMs ?? 15_000, opts.signal);
  } catch (e) {
    const log = await Deno.readTextFile(logPath).catch(() => "");
    await handle.stop();
    throw new Error(
      `containerd did not become ready: ${e instanceof Error ? e.message : e}\n${log.slice(-2000)}`,
      {
        cause: e,
      },
    );
  }
  return handle;
}

async function copyTo(src: ReadableStream<Uint8Array>, dst: Deno.FsFile): Promise<void> {
  for await (const chunk of src) await dst.write(chunk);
}

async function waitReady(h: Containerd, child: Deno.ChildProcess, timeoutMs: number, signal?: AbortSignal) {
  const deadline = Date.now() + timeoutMs;
  let exited = false;
  child.status.then(() => exited = true, () => exited = true);
  while (true) {
    signal?.throwIfAborted();
    if (exited) throw new Error(`containerd (pid ${h.pid}) exited during start-up`);
    if (await canConnect(h.grpcAddress) && await canConnect(h.ttrpcAddress)) {
      const v = await h.ctr(["version"]);
      if (v.code === 0) return;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function canConnect(path: string): Promise<boolean> {
  try {
    const c = await Deno.connect({ transport: "unix", path });
    c.close();
    return true;
  } catch {
    return false;
  }
}

async function runCtr(
  ctr: string,
  address: string,
  args: readonly string[],
  o: { namespace?: string; signal?: AbortSignal },
): Promise<CtrResult> {
  const ns = o.namespace ? ["-n", o.namespace] : [];
  const out = await new Deno.Command(ctr, {
    args: ["-a", address, ...ns, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(o.signal ? { signal: o.signal } : {}),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

async function subscribe(ctr: string, address: string, timeoutMs: number): Promise<EventSubscription> {
  const child = new Deno.Command(ctr, {
    args: ["-a", address, "events"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<{ pred: (l: string) => boolean; resolve: (l: string) => void }>();
  const pump = (async () => {
    let buf = "";
    for await (const text of child.stdout.pipeThrough(new TextDecoderStream())) {
      buf += text;
      let nl: number;
      while ((nl = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        lines.push(line);
        for (const w of waiters) if (w.pred(line)) w.resolve(line);
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  let closed: Promise<void> | undefined;
  const sub: EventSubscription = {
    lines,
    waitFor: (pred, w = {}) => {
      const hit = lines.find(pred);
      if (hit !== undefined) return Promise.resolve(hit);
      const ms = w.timeoutMs ?? 10_000;
      return new Promise<string>((resolve, reject) => {
        const waiter = {
          pred,
          resolve: (l: string) => {
            clearTimeout(timer);
            waiters.delete(waiter);
            resolve(l);
          },
        };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching "ctr events" line within ${ms} ms; got:\n${lines.join("\n")}`));
        }, ms);
        waiters.add(waiter);
      });
    },
    close: () => {
      closed ??= (async () => {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
        await child.status;
        await pump.catch(() => {});
        await stderr.catch(() => "");
      })();
      return closed;
    },
  };
  // Prove the subscription is live: create namespaces until one shows up as an event.
  const deadline = Date.now() + timeoutMs;
  try {
    for (let i = 0;; i++) {
      const ns = `cocoon-probe-${i}`;
      const r = await runCtr(ctr, address, ["namespaces", "create", ns], {});
      if (r.code !== 0) throw new Error(`ctr namespaces create failed: ${r.stderr.trim()}`);
      const seen = await sub.waitFor((l) => l.includes("/namespaces/create") && l.includes(ns), {
        timeoutMs: 300,
      })
        .then(() => true, () => false);
      if (seen) return sub;
      if (Date.now() > deadline) throw new Error(`"ctr events" saw no event within ${timeoutMs} ms`);
    }
  } catch (e) {
    await sub.close();
    throw e;
  }
}

async function terminate(child: Deno.ChildProcess): Promise<void> {
  try {
    child.kill("SIGTERM");
  } catch {
    return; // already exited
  }
  let timer: ReturnType<typeof setTimeout> | undefined;
  const killed = new Promise<void>((r) => {
    timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      r();
    }, 5000);
  });
  await Promise.race([child.status.then(() => {}), killed]);
  clearTimeout(timer);
  await child.status;
}

/** Lazily unmounts anything mounted under `dir` (snapshots, rootfs binds), deepest first. */
async function unmountUnder(dir: string): Promise<void> {
  const info = await Deno.readTextFile("/proc/self/mountinfo").catch(() => "");
  const targets = info.split("\n")
    .map((l) => l.split(" ")[4] ?? "")
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const t of targets) {
    await new Deno.Command("umount", { args: ["-l", t], stdout: "null", stderr: "null" }).output().catch(
      () => {},
    );
  }
}
