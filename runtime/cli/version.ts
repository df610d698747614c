import meta from "../../deno.json" with { type: "json" };

/** Cocoon's version, from deno.json. */
export const VERSION: string = typeof meta.version === "string" ? meta.version : "0.0.0";
/** Version of the OCI runtime spec the CLI implements. */
export const OCI_SPEC_VERSION = "1.1.0";
