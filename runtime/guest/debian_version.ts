/**
 * Debian version ordering (`[epoch:]upstream[-revision]`), as `dpkg --compare-versions` defines it,
 * so the builder can pick the newest kernel package without spawning dpkg for every pair.
 *
 * @module
 */

/** Negative when `a` sorts before `b`, 0 when equal, positive when after. */
export function compareDebianVersions(a: string, b: string): number {
  const pa = split(a);
  const pb = split(b);
  if (pa.epoch !== pb.epoch) return pa.epoch - pb.epoch;
  const up = comparePart(pa.upstream, pb.upstream);
  if (up !== 0) return up;
  return comparePart(pa.revision, pb.revision);
}

interface Parts {
  epoch: number;
  upstream: string;
  revision: string;
}

function split(v: string): Parts {
  const colon = v.indexOf(":");
  const epoch = colon > 0 ? Number.parseInt(v.slice(0, colon), 10) : 0;
  const rest = colon > 0 ? v.slice(colon + 1) : v;
  const dash = rest.lastIndexOf("-");
  return {
    epoch: Number.isFinite(epoch) ? epoch : 0,
    upstream: dash >= 0 ? rest.slice(0, dash) : rest,
    revision: dash >= 0 ? rest.slice(dash + 1) : "",
  };
}

/** Weight of one character in the non-digit parts: `~` first, then end, letters, then the rest. */
function order(c: string | undefined): number {
  if (c === undefined) return 0;
  if (c === "~") return -1;
  if (/[A-Za-z]/.test(c)) return c.charCodeAt(0);
  return c.charCodeAt(0) + 256;
}

function comparePart(a: string, b: string): number {
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    // Non-digit prefix, compared character by character.
    while ((i < a.length && !isDigit(a[i])) || (j < b.length && !isDigit(b[j]))) {
      const ca = i < a.length && !isDigit(a[i]) ? a[i] : undefined;
      const cb = j < b.length && !isDigit(b[j]) ? b[j] : undefined;
      const d = order(ca) - order(cb);
      if (d !== 0) return d;
      i++;
      j++;
    }
    // Digit run, compared numerically.
    let na = "";
    let nb = "";
    while (i < a.length && isDigit(a[i])) na += a[i++];
    while (j < b.length && isDigit(b[j])) nb += b[j++];
    const d = Number(BigInt(na || "0") - BigInt(nb || "0"));
    if (d !== 0) return d;
  }
  return 0;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}
