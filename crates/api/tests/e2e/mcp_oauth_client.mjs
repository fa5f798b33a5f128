// An independent MCP client for the OAuth end-to-end test (tests/api/mcp/sdk.rs): the
// official TypeScript SDK, installed by scripts/mcp-sdk-client.sh, with its own OAuth
// client provider. It finds our authorization server from the endpoint's 401, registers,
// and starts authorization with PKCE; the test plays the browser and hands the code back.
//
//   node mcp_oauth_client.mjs <mcp-url> [tool-to-call]     (NODE_PATH = the SDK's node_modules)
//
// One line each on stdout / stdin:
//   AUTHORIZE <url>    where the SDK sends the user agent
//   CODE <code>        (stdin) the code from the redirect after consent
//   SERVER <json>      serverInfo from initialize
//   TOOLS <json>       the tools/list result
//   CALL <json>        the result of calling the tool, when one was named
// Errors go to stderr, with exit status 1.
import { randomUUID } from 'node:crypto';
import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';

// The SDK lives outside the repository: require() honours NODE_PATH, import does not.
const require = createRequire(import.meta.url);
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { UnauthorizedError } = require('@modelcontextprotocol/sdk/client/auth.js');

const [mcpUrl, tool] = process.argv.slice(2);
if (!mcpUrl) {
    console.error('usage: mcp_oauth_client.mjs <mcp-url> [tool-to-call]');
    process.exit(2);
}
const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();

// Nothing listens here: the test reads the redirect's Location instead of following it.
const REDIRECT = 'http://127.0.0.1:8976/callback';

/** Keeps everything in memory, for one session. */
class TestProvider {
    code = undefined;
    #state = randomUUID();
    #client = undefined;
    #tokens = undefined;
    #verifier = undefined;

    get redirectUrl() {
        return REDIRECT;
    }
    get clientMetadata() {
        // A public native client: PKCE, no secret.
        return {
            client_name: 'Gatehouse E2E (MCP TypeScript SDK)',
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
    async redirectToAuthorization(url) {
        console.log(`AUTHORIZE ${url}`);
        const { value, done } = await lines.next();
        const code = !done && value.startsWith('CODE ') ? value.slice(5).trim() : '';
        if (!code) throw new Error(`expected "CODE <code>" on stdin, got ${JSON.stringify(value)}`);
        this.code = code;
    }
    saveCodeVerifier(verifier) {
        this.#verifier = verifier;
    }
    codeVerifier() {
        if (!this.#verifier) throw new Error('no PKCE code verifier saved');
        return this.#verifier;
    }
}

async function main() {
    const url = new URL(mcpUrl);
    const provider = new TestProvider();
    const clientInfo = { name: 'gatehouse-e2e', version: '1.0.0' };

    // Unauthorized at first: the SDK discovers, registers and asks for authorization.
    const first = new StreamableHTTPClientTransport(url, { authProvider: provider });
    try {
        await new Client(clientInfo).connect(first);
        throw new Error('connected without authorization');
    } catch (e) {
        if (!(e instanceof UnauthorizedError)) throw e;
    }
    if (!provider.code) throw new Error('the SDK never asked for authorization');
    await first.finishAuth(provider.code);

    // A started transport cannot start again, so reconnect on a new one.
    const client = new Client(clientInfo);
    await client.connect(new StreamableHTTPClientTransport(url, { authProvider: provider }));
    console.log(`SERVER ${JSON.stringify(client.getServerVersion())}`);
    const { tools } = await client.listTools();
    console.log(`TOOLS ${JSON.stringify(tools)}`);
    if (tool) {
        const result = await client.callTool({ name: tool, arguments: { from: 'sdk' } });
        console.log(`CALL ${JSON.stringify(result)}`);
    }
    await client.close();
}

main().then(
    () => {
        stdin.close();
        process.exit(0);
    },
    (e) => {
        console.error(e?.stack ?? String(e));
        process.exit(1);
    },
);
