/** Runs the installed cocoon program (tests/utils/program.ts) as a subprocess. */
import { cocoonBin } from "./program.ts";

const root = new URL("../../", import.meta.url).pathname;

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export async function cocoon(
  args: string[],
  opts: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  const out = await new Deno.Command(cocoonBin(), {
    args,
    env: { COCOON_CONFIG: "", ...opts.env },
    cwd: opts.cwd ?? root,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

export const repoRoot = root;
