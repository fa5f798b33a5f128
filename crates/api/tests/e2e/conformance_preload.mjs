// Preloaded into the conformance CLI (`node --import <this> .../conformance/dist/index.js`)
// by tests/api/mcp/conformance.rs, for two things the CLI cannot do itself:
//
// 1. Run on Node 20 (Debian's and CI's): the CLI imports `globSync` from `fs` (Node >= 22)
//    for its `tier-check` command only; on older Node the import alone kills the process.
//    We resolve its `fs` to the real one plus a `globSync` that throws if ever called.
// 2. Authenticate: its server mode has no option for a header, and the gateway wants an
//    API key. With CONFORMANCE_AUTHORIZATION set, every request it sends carries it as
//    `Authorization`: through global fetch (the SDK client and the raw SSE checks) and
//    through undici's request() (the DNS-rebinding check). Nothing else changes: same
//    Host, same Origin, same connection, so the checks see the gateway as it is.
import fs from 'node:fs';
import { register } from 'node:module';

const AUTH = process.env.CONFORMANCE_AUTHORIZATION;

if (AUTH) {
    const realFetch = globalThis.fetch;
    globalThis.fetch = (input, init = {}) => {
        const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
        if (!headers.has('authorization')) headers.set('authorization', AUTH);
        return realFetch(input, { ...init, headers });
    };
}

const js = src => 'data:text/javascript,' + encodeURIComponent(src);
const fsShim = fs.globSync
    ? null
    : js(
          "export * from 'node:fs'; import fs from 'node:fs'; export default fs;" +
              "export function globSync() { throw new Error('fs.globSync needs Node >= 22'); }",
      );
// Loader hooks run on their own thread: what they need goes in as data.
register(
    js(`
const fsShim = ${JSON.stringify(fsShim)};
const auth = ${JSON.stringify(AUTH ?? null)};
const undiciShim = real => 'data:text/javascript,' + encodeURIComponent(
    "import * as u from " + JSON.stringify(real) + "; export * from " + JSON.stringify(real) + ";" +
    "const auth = " + JSON.stringify(auth) + ";" +
    "export function request(url, opts = {}) {" +
    "  const headers = { ...(opts.headers ?? {}) };" +
    "  if (!Object.keys(headers).some(k => k.toLowerCase() === 'authorization')) headers.authorization = auth;" +
    "  return u.request(url, { ...opts, headers });" +
    "}");
export async function resolve(specifier, context, next) {
    const cli = context.parentURL?.includes('/@modelcontextprotocol/conformance/');
    if (fsShim && cli && (specifier === 'fs' || specifier === 'node:fs')) return { url: fsShim, shortCircuit: true };
    if (auth && cli && specifier === 'undici') {
        const real = await next(specifier, context);
        return { url: undiciShim(real.url), shortCircuit: true };
    }
    return next(specifier, context);
}
`),
);
