/**
 * The shim binary's entry: `containerd-shim-cocoon-v2 [flags] start|delete`. stdout carries only
 * the address (start) or the DeleteResponse bytes (delete); diagnostics go to the daemon log file.
 *
 * @module
 */
import { RuntimeError, toRuntimeError } from "../errors.ts";
import { createLogger, fileSink, type Logger, nullSink } from "../log/logger.ts";
import { daemonDir, daemonPaths } from "./address.ts";
import { parseShimFlags } from "./flags.ts";
import { shimDelete } from "./delete.ts";
import { shimStart } from "./start.ts";

export interface ShimIo {
  /** Writes to stdout (the only channel containerd reads). */
  readonly out: (bytes: Uint8Array) => void;
  /** Writes to stderr (containerd logs it; start's stderr becomes part of the address). */
  readonly err: (text: string) => void;
  readonly env: (name: string) => string | undefined;
  readonly cwd: string;
}

function shimLogger(env: (name: string) => string | undefined, debug: boolean): Logger {
  try {
    const paths = daemonPaths(daemonDir(env));
    Deno.mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    return createLogger({
      level: debug ? "debug" : "info",
      sink: fileSink(`${paths.dir}/shim.log`),
      fields: { pid: Deno.pid, subsystem: "shim" },
    });
  } catch {
    return createLogger({ sink: nullSink });
  }
}

/** Runs the shim; returns the exit code. */
export async function runShim(argv: readonly string[], io: ShimIo): Promise<number> {
  let log: Logger = createLogger({ sink: nullSink });
  try {
    const flags = parseShimFlags(argv);
    log = shimLogger(io.env, flags.debug);
    if (flags.version) {
      io.out(new TextEncoder().encode("containerd-shim-cocoon-v2 (cocoon)\n"));
      return 0;
    }
    if (flags.action === null) {
      throw new RuntimeError(
        "InvalidArgument",
        "Invalid shim arguments: expected an action (start or delete); the Task API is served by `cocoon daemon`",
      );
    }
    if (flags.id === "") {
      throw new RuntimeError("InvalidArgument", 'Invalid shim arguments: "-id" is required');
    }
    const bundle = flags.bundle !== "" ? flags.bundle : io.cwd;
    if (flags.action === "start") {
      const address = await shimStart(flags, { bundle, env: io.env });
      log.info("start", { container: flags.id, namespace: flags.namespace, address });
      io.out(new TextEncoder().encode(address));
      return 0;
    }
    const bytes = await shimDelete(flags, { bundle, env: io.env, log });
    log.info("delete", { container: flags.id, namespace: flags.namespace });
    io.out(bytes);
    return 0;
  } catch (e) {
    const err = toRuntimeError(e);
    log.error(err.message, { error: e });
    io.err(`containerd-shim-cocoon-v2: ${err.message}`);
    return 1;
  }
}
