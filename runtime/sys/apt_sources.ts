/**
 * The host's own Debian mirror, read from its apt configuration (one-line `.list` files and deb822
 * `.sources` files), so that private installs of another suite's packages go where the host's
 * packages come from. No package host is written in the code.
 *
 * @module
 */

export interface AptSource {
  /** The mirror's base URI: `http://deb.example.org/debian`. */
  readonly uri: string;
  /** Its `signed-by` keyring, when the source names one. */
  readonly signedBy?: string;
}

/** Debian's own release suites (what the main archive serves; not -security, not third parties). */
const RELEASE = /^(bookworm|trixie|forky|sid|stable|testing|unstable|oldstable)(-updates)?$/;

/**
 * The first source serving a Debian release suite with `main`, from the texts of the host's apt
 * source files (`name` decides the format: `.sources` is deb822). Pure.
 */
export function debianMirror(files: readonly { name: string; text: string }[]): AptSource | undefined {
  for (const f of files) {
    const found = f.name.endsWith(".sources") ? fromDeb822(f.text) : fromOneLine(f.text);
    if (found !== undefined) return found;
  }
  return undefined;
}

function fromOneLine(text: string): AptSource | undefined {
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    const m = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line);
    if (m === null) continue;
    const [, opts = "", uri = "", suite = "", comps = ""] = m;
    if (!RELEASE.test(suite) || !comps.split(/\s+/).includes("main")) continue;
    const signed = /signed-by=(\S+)/.exec(opts)?.[1];
    return { uri: uri.replace(/\/+$/, ""), ...(signed ? { signedBy: signed } : {}) };
  }
  return undefined;
}

function fromDeb822(text: string): AptSource | undefined {
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const raw of stanza.split("\n")) {
      if (raw.startsWith("#")) continue;
      const m = /^([A-Za-z-]+):\s*(.*)$/.exec(raw);
      if (m) fields.set((m[1] ?? "").toLowerCase(), m[2] ?? "");
    }
    if (fields.get("enabled") === "no" || !(fields.get("types") ?? "").split(/\s+/).includes("deb")) continue;
    const suites = (fields.get("suites") ?? "").split(/\s+/);
    const comps = (fields.get("components") ?? "").split(/\s+/);
    const uri = (fields.get("uris") ?? "").split(/\s+/)[0];
    if (!uri || !suites.some((s) => RELEASE.test(s)) || !comps.includes("main")) continue;
    const signed = fields.get("signed-by");
    return {
      uri: uri.replace(/\/+$/, ""),
      ...(signed && !signed.includes("\n") ? { signedBy: signed } : {}),
    };
  }
  return undefined;
}

/** Reads the host's apt sources (`/etc/apt/sources.list` and `sources.list.d/*.{list,sources}`). */
export async function hostDebianMirror(etc = "/etc/apt"): Promise<AptSource | undefined> {
  const files: { name: string; text: string }[] = [];
  const read = async (name: string) => {
    const text = await Deno.readTextFile(name).catch(() => undefined);
    if (text !== undefined) files.push({ name, text });
  };
  await read(`${etc}/sources.list`);
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(`${etc}/sources.list.d`)) {
      if (e.name.endsWith(".list") || e.name.endsWith(".sources")) names.push(e.name);
    }
  } catch {
    // no sources.list.d
  }
  for (const n of names.sort()) await read(`${etc}/sources.list.d/${n}`);
  return debianMirror(files);
}
