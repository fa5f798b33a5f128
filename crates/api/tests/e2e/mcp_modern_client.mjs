// A client that speaks only MCP 2026-07-28, for the end-to-end tests in
// tests/api/mcp/modern.rs: the official TypeScript SDK v2 client (@modelcontextprotocol/client,
// installed by scripts/mcp-modern-client.sh), its version negotiation pinned to 2026-07-28
// (`versionNegotiation: { mode: { pin } }`: `server/discover` must offer it, no `initialize`
// fallback). With GATEHOUSE_MCP_KEY set it sends that API key as a bearer token; without it,
// its OAuth client provider discovers our authorization server from the endpoint's 401,
// registers, and starts authorization with PKCE; the test plays the browser and hands back
// the redirect.
//
//   node mcp_modern_client.mjs <mcp-url> [tool-to-call]    (NODE_PATH = the client's node_modules)
//
// One line each on stdout / stdin:
//   AUTHORIZE <url>      (OAuth) where the SDK sends the user agent
//   CALLBACK <url>       (stdin) the redirect after consent, with code, state and iss
//   VERSION <version>    the negotiated protocol version
//   DISCOVER <json>      the server/discover result, as the SDK kept it
//   SERVER <json>        serverInfo, where the SDK looks for it (null if not found)
//   TOOLS <json>         the tools/list result
//   CALL <json>          the result of calling the tool, when one was named
//   WIRE <json>          every HTTP request the client made, in order: HTTP method, path,
//                        status, the auth scheme (never the credential), the MCP headers,
//                        and of a JSON-RPC body its method, `_meta` keys and `_meta`
//                        protocol version
// Errors go to stderr, with exit status 1.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

// The SDK lives outside the repository: require() honours NODE_PATH, import does not.
const require = createRequire(import.meta.url);
const { Client, StreamableHTTPClientTransport, UnauthorizedError } = require('@modelcontextprotocol/client');

const MODERN = '2026-07-28';
const [mcpUrl, tool] = process.argv.slice(2);
if (!mcpUrl) {
    console.error('usage: mcp_modern_client.mjs <mcp-url> [tool-to-call]');
    process.exit(2);
}
const apiKey = process.env.GATEHOUSE_MCP_KEY;
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

// Nothing listens here: the test reads the redirect's Location instead of following it.
const REDIRECT = 'http://127.0.0.1:8977/callback';

/** What went over the wire, one entry per HTTP request. */
const wire = [];

/** fetch, logging each request and its status. */
async function loggingFetch(input, init = {}) {
    const request = new Request(input, init);
    const entry = {
        http: request.method,
        path: new URL(request.url).pathname,
        auth: (request.headers.get('authorization') ?? '').split(' ')[0] || null,
        protocolVersion: request.headers.get('mcp-protocol-version'),
        mcpMethod: request.headers.get('mcp-method'),
        mcpName: request.headers.get('mcp-name'),
        sessionId: request.headers.get('mcp-session-id'),
    };
    const body = typeof init.body === 'string' ? init.body : undefined;
    if (body !== undefined && (request.headers.get('content-type') ?? '').includes('json')) {
        try {
            const msg = JSON.parse(body);
            for (const m of (Array.isArray(msg) ? msg : [msg]).filter((m) => m?.jsonrpc === '2.0')) {
                entry.rpc = [...(entry.rpc ?? []), m.method ?? 'response'];
                entry.metaVersion = m.params?._meta?.['io.modelcontextprotocol/protocolVersion'] ?? null;
                entry.metaKeys = Object.keys(m.params?._meta ?? {}).sort();
            }
        } catch {
            // Not JSON-RPC (an OAuth request): method and path say enough.
        }
    }
    wire.push(entry);
    const response = await fetch(input, init);
    entry.status = response.status;
    return response;
}

/** Keeps everything in memory, for one session. */
class TestProvider {
    callback = undefined;
    #state = randomUUID();
    #client = undefined;
    #tokens = undefined;
    #verifier = undefined;
    #discovery = undefined;

    get redirectUrl() {
        return REDIRECT;
    }
    get clientMetadata() {
        // A public native client: PKCE, no secret.
        return {
            client_name: 'Gatehouse E2E (MCP TypeScript SDK v2, 2026-07-28)',
            redirect_uris: [REDIRECT],
            grant_types: ['authorization_code', 'refresh_token'],
            response_types: ['code'],
            token_endpoint_auth_method: 'none',
        };
    }
    state() {
        return this.#state;
    }
    clientInformation() {
        return this.#client;
    }
    saveClientInformation(info) {
        this.#client = info;
    }
    tokens() {
        return this.#tokens;
    }
    saveTokens(tokens) {
        this.#tokens = tokens;
    }
    // Kept with the code verifier, so the callback leg checks the authorization server.
    discoveryState() {
        return this.#discovery;
    }
    saveDiscoveryState(state) {
        this.#discovery = state;
    }
    async redirectToAuthorization(url) {
        console.log(`AUTHORIZE ${url}`);
        const { value, done } = await lines.next();
        const back = !done && value.startsWith('CALLBACK ') ? value.slice(9).trim() : '';
        if (!back) throw new Error(`expected "CALLBACK <url>" on stdin, got ${JSON.stringify(value)}`);
        this.callback = new URL(back);
    }
    saveCodeVerifier(verifier) {
        this.#verifier = verifier;
    }
    codeVerifier() {
        if (!this.#verifier) throw new Error('no PKCE code verifier saved');
        return this.#verifier;
    }
}

function newClient() {
    return new Client(
        { name: 'gatehouse-e2e-modern', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: MODERN } } },
    );
}

async function main() {
    const url = new URL(mcpUrl);
    let authProvider;
    if (apiKey) {
        authProvider = { token: async () => apiKey };
    } else {
        const provider = new TestProvider();
        authProvider = provider;
        // Unauthorized at first: the SDK discovers, registers and asks for authorization.
        const first = new StreamableHTTPClientTransport(url, { authProvider, fetch: loggingFetch });
        try {
            await newClient().connect(first);
            throw new Error('connected without authorization');
        } catch (e) {
            if (!(e instanceof UnauthorizedError)) throw e;
        }
        if (!provider.callback) throw new Error('the SDK never asked for authorization');
        const params = provider.callback.searchParams;
        if (params.get('state') !== provider.state()) throw new Error(`state mismatch: ${provider.callback}`);
        // code and iss (RFC 9207), checked against the recorded issuer before redemption.
        await first.finishAuth(params);
    }

    // A started transport cannot start again, so connect on a new one.
    const client = newClient();
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider, fetch: loggingFetch }));
    console.log(`VERSION ${client.getNegotiatedProtocolVersion()}`);
    console.log(`DISCOVER ${JSON.stringify(client.getDiscoverResult() ?? null)}`);
    console.log(`SERVER ${JSON.stringify(client.getServerVersion() ?? null)}`);
    const { tools } = await client.listTools();
    console.log(`TOOLS ${JSON.stringify(tools)}`);
    if (tool) {
        const result = await client.callTool({ name: tool, arguments: { from: 'modern' } });
        console.log(`CALL ${JSON.stringify(result)}`);
    }
    await client.close();
    console.log(`WIRE ${JSON.stringify(wire)}`);
}

main().then(
    () => {
        stdin.close();
        process.exit(0);
    },
    (e) => {
        console.error(e?.stack ?? String(e));
        console.error(`wire so far: ${JSON.stringify(wire)}`);
        process.exit(1);
    },
);
