/**
 * A client of the management API over TCP as a user runs it: the bearer token from the file that
 * `cocoon api` names on stderr, and `Content-Type: application/json` on every mutating request.
 */

/** The token file named in `cocoon api`'s "listening" line, or null. Pure. */
export function tokenFileOf(line: string): string | null {
  return /\(TCP token: .*file (\S+)\)/.exec(line)?.[1] ?? null;
}

/** `fetch` with the API's token and JSON on POST/PUT/PATCH/DELETE. */
export function apiFetch(token: string): (url: string, init?: RequestInit) => Promise<Response> {
  return (url, init = {}) => {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${token}`);
    if ((init.method ?? "GET") !== "GET" && !headers.has("content-type")) {
      headers.set("content-type", "application/json");
    }
    return fetch(url, { ...init, headers });
  };
}

/** The token in `file` (as `cocoon api token` prints it). */
export async function readToken(file: string): Promise<string> {
  return (await Deno.readTextFile(file)).trim();
}
