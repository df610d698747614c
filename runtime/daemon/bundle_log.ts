/**
 * The bundle's `log` FIFO: containerd reads it and copies every line into its own log, so the
 * daemon writes each task's life there too (JSON lines). Opening waits for containerd's reader for
 * at most a second; a reader that goes away (containerd restarting) just drops lines.
 *
 * @module
 */
import { createLogger, type Logger } from "../log/logger.ts";

export interface BundleLog {
  readonly log: Logger;
  close(): void;
}

/** A logger writing to `<bundle>/log`. */
export function openBundleLog(bundle: string, fields: Readonly<Record<string, unknown>>): BundleLog {
  const enc = new TextEncoder();
  let file: Deno.FsFile | null = null;
  let closed = false;
  const opened = Promise.race([
    Deno.open(`${bundle}/log`, { write: true }).then((f) => {
      if (closed) f.close();
      else file = f;
    }),
    new Promise<void>((r) => setTimeout(r, 1000)),
  ]).catch(() => {});
  let chain: Promise<void> = opened;
  const drop = () => {
    try {
      file?.close();
    } catch { /* closed */ }
    file = null;
  };
  const log = createLogger({
    level: "info",
    fields: { pid: Deno.pid, subsystem: "cocoon-daemon", ...fields },
    sink: {
      write(line) {
        chain = chain.then(async () => {
          if (file === null) return;
          try {
            await file.write(enc.encode(line));
          } catch {
            drop();
          }
        });
      },
    },
  });
  return {
    log,
    close() {
      closed = true;
      chain = chain.then(drop);
    },
  };
}
