/**
 * A recording {@link NetSys} for unit tests: every call is kept as one argv string, and a responder
 * decides what each call prints (default: exit 0, no output).
 *
 * @module
 */
import type { NetCommandResult, NetSys } from "./ip_command.ts";

export type NetResponder = (argv: readonly string[]) => Partial<NetCommandResult> | undefined;

/** Records calls; `calls` holds `"cmd arg1 arg2"` strings in call order. */
export class RecordingNetSys implements NetSys {
  readonly #calls: string[] = [];
  readonly #respond: NetResponder;

  constructor(respond: NetResponder = () => undefined) {
    this.#respond = respond;
  }

  get calls(): readonly string[] {
    return this.#calls;
  }

  /** The calls with the `nsenter --net=<path> --` prefix removed, for readable assertions. */
  get commands(): readonly string[] {
    return this.#calls.map((c) => c.replace(/^nsenter --net=\S+ -- /, ""));
  }

  run(cmd: string, args: readonly string[]): Promise<NetCommandResult> {
    const argv = [cmd, ...args];
    this.#calls.push(argv.join(" "));
    const r = this.#respond(argv) ?? {};
    return Promise.resolve({ code: r.code ?? 0, stdout: r.stdout ?? "", stderr: r.stderr ?? "" });
  }
}
