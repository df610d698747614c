/**
 * Test helper: runs a containerd that the caller has configured (a private CRI-enabled 1.6, or 1.7
 * from Debian 13), its output appended to `logPath`, and waits until `ctr version` answers.
 *
 * @module
 */
const dec = new TextDecoder();

export interface ContainerdProcess {
  readonly pid: number;
  /** Runs `ctr -a <grpcAddress> ...args`. */
  ctr(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** SIGTERM (SIGKILL after 5 s) and waits. Idempotent. */
  stop(): Promise<void>;
}

export async function spawnContainerd(o: {
  readonly containerd: string;
  readonly ctr: string;
  readonly configPath: string;
  readonly grpcAddress: string;
  readonly logPath: string;
  readonly env: Readonly<Record<string, string>>;
  /** For the error when it does not come up: `containerd 1.7`. */
  readonly what: string;
}): Promise<ContainerdProcess> {
  const logFile = await Deno.open(o.logPath, { write: true, create: true, append: true });
  const child = new Deno.Command(o.containerd, {
    args: ["--config", o.configPath],
    env: { ...o.env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const copy = async (src: ReadableStream<Uint8Array>) => {
    for await (const chunk of src) await logFile.write(chunk);
  };
  const pumps = Promise.all([copy(child.stdout), copy(child.stderr)]).catch(() => {}).finally(() =>
    logFile.close()
  );
  let exited = false;
  void child.status.then(() => (exited = true));
  const ctr = async (args: readonly string[]) => {
    const out = await new Deno.Command(o.ctr, {
      args: ["-a", o.grpcAddress, ...args],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  };
  let stopped: Promise<void> | undefined;
  const stop = () =>
    stopped ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* gone */ }
      const t = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }, 5000);
      await child.status;
      clearTimeout(t);
      await pumps;
    })();
  for (let i = 0;; i++) {
    if (!exited && (await ctr(["version"])).code === 0) break;
    if (exited || i > 300) {
      await stop();
      throw new Error(`${o.what} did not start:\n${(await Deno.readTextFile(o.logPath)).slice(-2000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { pid: child.pid, ctr, stop };
}
