import { ERROR_CODES, RuntimeError } from "../../errors.ts";
import { removeContainerState } from "../../holder/cleanup.ts";
import { holderAlive, readHolderInfo } from "../../holder/info.ts";
import { ociPaths, ociRoot } from "../../holder/paths.ts";
import { spawnSelfDetached, waitReady } from "../../holder/spawn.ts";
import { loadBundle } from "../../oci/bundle.ts";
import type { Command, CommandContext } from "../args.ts";
import { idArg, ociEnv, parseVerb, writePidFile } from "../oci_args.ts";

/** Global flags the holder needs to see the same configuration, root and log as this call. */
export function forwardedGlobals(ctx: CommandContext, stateDir: string): string[] {
  const g = ctx.globals;
  return [
    "--root",
    stateDir,
    ...(g.config !== undefined ? ["--config", g.config] : []),
    ...(g.log !== undefined ? ["--log", g.log, "--log-format", g.logFormat] : []),
    ...(g.debug ? ["--debug"] : []),
  ];
}

export const create: Command = {
  summary: "Create a container (boots its microVM; the process waits for start)",
  usage: "cocoon create [--bundle DIR] [--pid-file FILE] [--console-socket SOCK] <container-id>",
  async run(args, ctx) {
    const { values, positionals } = parseVerb("create", args, {
      bundle: { type: "string", short: "b" },
      "pid-file": { type: "string" },
      "console-socket": { type: "string" },
      "no-pivot": { type: "boolean" },
      "no-new-keyring": { type: "boolean" },
      "preserve-fds": { type: "string" },
    });
    const id = idArg("create", positionals);
    const preserve = Number(values["preserve-fds"] ?? "0");
    if (!Number.isInteger(preserve) || preserve < 0) {
      throw new RuntimeError(
        "InvalidArgument",
        `Invalid --preserve-fds "${values["preserve-fds"]}": expected a count`,
      );
    }
    if (preserve > 0) {
      throw new RuntimeError(
        "Unimplemented",
        `Cannot create container "${id}": --preserve-fds is not supported (extra fds cannot reach a microVM)`,
      );
    }
    const env = await ociEnv(ctx);
    // Validate before anything is claimed: malformed config.json and a missing rootfs leave nothing.
    const bundle = await loadBundle(values.bundle ?? Deno.cwd());
    const paths = ociPaths(env.stateDir, id);
    await Deno.mkdir(ociRoot(env.stateDir), { recursive: true, mode: 0o711 });
    try {
      await Deno.mkdir(paths.dir, { mode: 0o700 });
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) {
        throw new RuntimeError("AlreadyExists", `Cannot create container "${id}": container with id exists`, {
          cause: e,
        });
      }
      throw e;
    }
    const child = spawnSelfDetached([
      ...forwardedGlobals(ctx, env.stateDir),
      "__holder",
      "--bundle",
      bundle.dir,
      ...(values["console-socket"] !== undefined
        ? ["--console-socket", absolute(values["console-socket"])]
        : []),
      id,
    ], values["console-socket"] !== undefined ? "null" : "inherit");
    try {
      const cfg = env.cfg;
      await waitReady(child, {
        what: `create container "${id}"`,
        timeoutMs: (cfg.agent.dialTimeoutSeconds + cfg.runtime.createContainerTimeoutSeconds + 60) * 1000,
        ready: async () => {
          const info = await readHolderInfo(paths.info).catch(() => null);
          return info !== null && await holderAlive(info);
        },
        failure: async () => {
          const text = await Deno.readTextFile(paths.error).catch(() => "");
          try {
            const o: unknown = JSON.parse(text);
            if (typeof o === "object" && o !== null && "message" in o && typeof o.message === "string") {
              const code = "code" in o ? ERROR_CODES.find((c) => c === o.code) : undefined;
              return new RuntimeError(code ?? "Internal", o.message);
            }
          } catch { /* no error file */ }
          return new RuntimeError(
            "Internal",
            `Cannot create container "${id}": its holder process exited early`,
          );
        },
      });
      if (values["pid-file"] !== undefined) await writePidFile(values["pid-file"], child.pid);
      child.unref();
      return 0;
    } catch (e) {
      // Let the holder roll back what it made; if it does not end, kill it and clean up here.
      await stopChild(child);
      await removeContainerState(await env.runtime(), id, paths, ctx.log).catch((ce) =>
        ctx.log.warn("cleanup after a failed create failed", { error: ce })
      );
      throw e;
    }
  },
};

async function stopChild(child: Deno.ChildProcess): Promise<void> {
  const signal = (s: Deno.Signal) => {
    try {
      child.kill(s);
    } catch { /* gone */ }
  };
  signal("SIGTERM");
  const t = setTimeout(() => signal("SIGKILL"), 15_000);
  await child.status.catch(() => {});
  clearTimeout(t);
}

function absolute(p: string): string {
  return p.startsWith("/") ? p : `${Deno.cwd()}/${p}`;
}
