// The backend for the conformance test (tests/api/mcp/conformance.rs): an MCP server that
// implements what every server scenario of `@modelcontextprotocol/conformance` expects
// (its tools, resources, prompts, completion, logging, sampling and elicitation requests,
// SSE resumability, DNS-rebinding protection), written by us on the official TypeScript
// SDK's low-level `Server`, so that schemas go out exactly as written here.
//
//   PORT=<port> node conformance_server.mjs      (NODE_PATH = the SDK's node_modules)
//
// Streamable HTTP on http://127.0.0.1:<port>/mcp, one SDK transport and `Server` per session.
// Prints "listening <port>" on stdout once it accepts connections.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';

// The SDK lives outside the repository: require() honours NODE_PATH, import does not.
const require = createRequire(import.meta.url);
const { Server } = require('@modelcontextprotocol/sdk/server/index.js');
const { StreamableHTTPServerTransport } = require('@modelcontextprotocol/sdk/server/streamableHttp.js');
const T = require('@modelcontextprotocol/sdk/types.js');

const PORT = Number(process.env.PORT);
if (!PORT) {
    console.error('usage: PORT=<port> node conformance_server.mjs');
    process.exit(2);
}

// 1×1 red PNG, and a WAV of 8 silent samples (8 kHz, 8-bit mono): the smallest valid media.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
const WAV = (() => {
    const samples = Buffer.alloc(8, 0x80);
    const h = Buffer.alloc(44);
    h.write('RIFF', 0);
    h.writeUInt32LE(36 + samples.length, 4);
    h.write('WAVEfmt ', 8);
    h.writeUInt32LE(16, 16);
    h.writeUInt16LE(1, 20); // PCM
    h.writeUInt16LE(1, 22); // mono
    h.writeUInt32LE(8000, 24);
    h.writeUInt32LE(8000, 28);
    h.writeUInt16LE(1, 32);
    h.writeUInt16LE(8, 34);
    h.write('data', 36);
    h.writeUInt32LE(samples.length, 40);
    return Buffer.concat([h, samples]).toString('base64');
})();

const noArgs = { type: 'object', properties: {} };
const TOOLS = [
    { name: 'test_simple_text', description: 'Returns a simple text', inputSchema: noArgs },
    { name: 'test_image_content', description: 'Returns a PNG image', inputSchema: noArgs },
    { name: 'test_audio_content', description: 'Returns a WAV sound', inputSchema: noArgs },
    { name: 'test_embedded_resource', description: 'Returns an embedded resource', inputSchema: noArgs },
    { name: 'test_multiple_content_types', description: 'Returns text, image and resource', inputSchema: noArgs },
    { name: 'test_tool_with_logging', description: 'Logs three messages while it runs', inputSchema: noArgs },
    { name: 'test_tool_with_progress', description: 'Reports progress 0, 50, 100 of 100', inputSchema: noArgs },
    { name: 'test_error_handling', description: 'Always fails (isError)', inputSchema: noArgs },
    {
        name: 'test_sampling',
        description: 'Asks the client to sample an LLM',
        inputSchema: { type: 'object', properties: { prompt: { type: 'string' } }, required: ['prompt'] },
    },
    {
        name: 'test_elicitation',
        description: 'Asks the user (elicitation)',
        inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
    },
    { name: 'test_elicitation_sep1034_defaults', description: 'Elicitation with defaults (SEP-1034)', inputSchema: noArgs },
    { name: 'test_elicitation_sep1330_enums', description: 'Elicitation with enum schemas (SEP-1330)', inputSchema: noArgs },
    { name: 'test_reconnection', description: 'Closes its SSE stream mid-call, answers after the client reconnects', inputSchema: noArgs },
    {
        // The scenario checks that $schema, $defs and additionalProperties survive the listing.
        name: 'json_schema_2020_12_tool',
        description: 'Tool with JSON Schema 2020-12 features',
        inputSchema: {
            $schema: 'https://json-schema.org/draft/2020-12/schema',
            type: 'object',
            $defs: {
                address: { type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } },
            },
            properties: { name: { type: 'string' }, address: { $ref: '#/$defs/address' } },
            additionalProperties: false,
        },
    },
];

const RESOURCES = [
    { uri: 'test://static-text', name: 'static-text', description: 'A static text resource', mimeType: 'text/plain' },
    { uri: 'test://static-binary', name: 'static-binary', description: 'A static PNG resource', mimeType: 'image/png' },
    { uri: 'test://watched-resource', name: 'watched-resource', description: 'A resource to subscribe to', mimeType: 'text/plain' },
];
const TEMPLATE = /^test:\/\/template\/([^/]+)\/data$/;

const PROMPTS = [
    { name: 'test_simple_prompt', description: 'A prompt without arguments' },
    {
        name: 'test_prompt_with_arguments',
        description: 'A prompt with two arguments',
        arguments: [
            { name: 'arg1', description: 'First argument', required: true },
            { name: 'arg2', description: 'Second argument', required: true },
        ],
    },
    {
        name: 'test_prompt_with_embedded_resource',
        description: 'A prompt that embeds a resource',
        arguments: [{ name: 'resourceUri', description: 'URI of the resource to embed', required: true }],
    },
    { name: 'test_prompt_with_image', description: 'A prompt with an image' },
];
const COMPLETIONS = ['test-value', 'testing', 'paris', 'park', 'party'];

const LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'];
const sleep = ms => new Promise(r => setTimeout(r, ms));
const text = t => ({ type: 'text', text: t });

/** A fresh MCP server for one session. */
function mcpServer() {
    const server = new Server(
        { name: 'gatehouse-conformance-fixture', version: '1.0.0' },
        {
            capabilities: {
                tools: { listChanged: true },
                resources: { subscribe: true, listChanged: true },
                prompts: { listChanged: true },
                logging: {},
                completions: {},
            },
        },
    );
    let minLevel = 'info';
    const subscriptions = new Set();
    const log = async (extra, level, data) => {
        if (LEVELS.indexOf(level) >= LEVELS.indexOf(minLevel)) {
            await extra.sendNotification({ method: 'notifications/message', params: { level, logger: 'fixture', data } });
        }
    };
    // Server→client requests go out on the tool call's own stream (extra.sendRequest).
    const elicit = (extra, params) => extra.sendRequest({ method: 'elicitation/create', params }, T.ElicitResultSchema);

    server.setRequestHandler(T.SetLevelRequestSchema, async req => {
        minLevel = req.params.level;
        return {};
    });
    server.setRequestHandler(T.CompleteRequestSchema, async req => {
        const prefix = req.params.argument?.value ?? '';
        const values = COMPLETIONS.filter(v => v.startsWith(prefix));
        return { completion: { values, total: values.length, hasMore: false } };
    });

    server.setRequestHandler(T.ListToolsRequestSchema, async () => ({ tools: TOOLS }));
    server.setRequestHandler(T.CallToolRequestSchema, async (req, extra) => {
        const args = req.params.arguments ?? {};
        switch (req.params.name) {
            case 'test_simple_text':
                return { content: [text('This is a simple text response for testing.')] };
            case 'test_image_content':
                return { content: [{ type: 'image', data: PNG, mimeType: 'image/png' }] };
            case 'test_audio_content':
                return { content: [{ type: 'audio', data: WAV, mimeType: 'audio/wav' }] };
            case 'test_embedded_resource':
                return {
                    content: [
                        {
                            type: 'resource',
                            resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' },
                        },
                    ],
                };
            case 'test_multiple_content_types':
                return {
                    content: [
                        text('Multiple content types test:'),
                        { type: 'image', data: PNG, mimeType: 'image/png' },
                        {
                            type: 'resource',
                            resource: {
                                uri: 'test://mixed-content-resource',
                                mimeType: 'application/json',
                                text: JSON.stringify({ test: 'data', value: 123 }),
                            },
                        },
                    ],
                };
            case 'test_tool_with_logging':
                await log(extra, 'info', 'Tool execution started');
                await sleep(50);
                await log(extra, 'info', 'Tool processing data');
                await sleep(50);
                await log(extra, 'info', 'Tool execution completed');
                return { content: [text('Tool with logging executed successfully')] };
            case 'test_tool_with_progress': {
                const token = req.params._meta?.progressToken;
                for (const progress of [0, 50, 100]) {
                    if (token !== undefined) {
                        await extra.sendNotification({
                            method: 'notifications/progress',
                            params: { progressToken: token, progress, total: 100, message: `${progress}%` },
                        });
                    }
                    if (progress < 100) await sleep(50);
                }
                return { content: [text('Tool with progress executed successfully')] };
            }
            case 'test_error_handling':
                return { isError: true, content: [text('This tool intentionally returns an error for testing')] };
            case 'test_sampling': {
                if (!server.getClientCapabilities()?.sampling) {
                    return { isError: true, content: [text('The client does not support sampling')] };
                }
                const r = await extra.sendRequest(
                    {
                        method: 'sampling/createMessage',
                        params: { messages: [{ role: 'user', content: text(String(args.prompt)) }], maxTokens: 100 },
                    },
                    T.CreateMessageResultSchema,
                );
                return { content: [text(`LLM response: ${r.content?.type === 'text' ? r.content.text : JSON.stringify(r.content)}`)] };
            }
            case 'test_elicitation': {
                if (!server.getClientCapabilities()?.elicitation) {
                    return { isError: true, content: [text('The client does not support elicitation')] };
                }
                const r = await elicit(extra, {
                    message: String(args.message),
                    requestedSchema: {
                        type: 'object',
                        properties: {
                            username: { type: 'string', description: "User's response" },
                            email: { type: 'string', description: "User's email address" },
                        },
                        required: ['username', 'email'],
                    },
                });
                return { content: [text(`User response: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
            }
            case 'test_elicitation_sep1034_defaults': {
                const r = await elicit(extra, {
                    message: 'Please review and update the form fields with defaults',
                    requestedSchema: {
                        type: 'object',
                        properties: {
                            name: { type: 'string', description: 'User name', default: 'John Doe' },
                            age: { type: 'integer', description: 'User age', default: 30 },
                            score: { type: 'number', description: 'User score', default: 95.5 },
                            status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
                            verified: { type: 'boolean', description: 'Verification status', default: true },
                        },
                        required: [],
                    },
                });
                return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
            }
            case 'test_elicitation_sep1330_enums': {
                const r = await elicit(extra, {
                    message: 'Please choose among the options',
                    requestedSchema: {
                        type: 'object',
                        properties: {
                            untitledSingle: { type: 'string', enum: ['option1', 'option2', 'option3'] },
                            titledSingle: {
                                type: 'string',
                                oneOf: [
                                    { const: 'value1', title: 'First Option' },
                                    { const: 'value2', title: 'Second Option' },
                                    { const: 'value3', title: 'Third Option' },
                                ],
                            },
                            legacyEnum: {
                                type: 'string',
                                enum: ['opt1', 'opt2', 'opt3'],
                                enumNames: ['Option One', 'Option Two', 'Option Three'],
                            },
                            untitledMulti: { type: 'array', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
                            titledMulti: {
                                type: 'array',
                                items: {
                                    anyOf: [
                                        { const: 'value1', title: 'First Choice' },
                                        { const: 'value2', title: 'Second Choice' },
                                        { const: 'value3', title: 'Third Choice' },
                                    ],
                                },
                            },
                        },
                        required: [],
                    },
                });
                return { content: [text(`Elicitation completed: action=${r.action}, content=${JSON.stringify(r.content ?? {})}`)] };
            }
            case 'test_reconnection':
                // SEP-1699 polling: end the POST stream (the client saw the priming event's id
                // and retry), answer later; the event store replays it on the GET with Last-Event-ID.
                await sleep(50);
                extra.closeSSEStream?.();
                await sleep(200);
                return { content: [text('Reconnection test completed successfully')] };
            default:
                throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
        }
    });

    server.setRequestHandler(T.ListResourcesRequestSchema, async () => ({ resources: RESOURCES }));
    server.setRequestHandler(T.ListResourceTemplatesRequestSchema, async () => ({
        resourceTemplates: [
            {
                uriTemplate: 'test://template/{id}/data',
                name: 'template',
                description: 'Data for an id',
                mimeType: 'application/json',
            },
        ],
    }));
    server.setRequestHandler(T.ReadResourceRequestSchema, async req => {
        const uri = req.params.uri;
        if (uri === 'test://static-text') {
            return { contents: [{ uri, mimeType: 'text/plain', text: 'This is the content of the static text resource.' }] };
        }
        if (uri === 'test://static-binary') {
            return { contents: [{ uri, mimeType: 'image/png', blob: PNG }] };
        }
        if (uri === 'test://watched-resource') {
            return { contents: [{ uri, mimeType: 'text/plain', text: 'Watched resource content.' }] };
        }
        const m = TEMPLATE.exec(uri);
        if (m) {
            const id = decodeURIComponent(m[1]);
            return {
                contents: [{ uri, mimeType: 'application/json', text: JSON.stringify({ id, templateTest: true, data: `Data for ID: ${id}` }) }],
            };
        }
        throw new T.McpError(-32002, `Resource not found: ${uri}`);
    });
    server.setRequestHandler(T.SubscribeRequestSchema, async req => {
        subscriptions.add(req.params.uri);
        return {};
    });
    server.setRequestHandler(T.UnsubscribeRequestSchema, async req => {
        subscriptions.delete(req.params.uri);
        return {};
    });

    server.setRequestHandler(T.ListPromptsRequestSchema, async () => ({ prompts: PROMPTS }));
    server.setRequestHandler(T.GetPromptRequestSchema, async req => {
        const args = req.params.arguments ?? {};
        switch (req.params.name) {
            case 'test_simple_prompt':
                return { messages: [{ role: 'user', content: text('This is a simple prompt for testing.') }] };
            case 'test_prompt_with_arguments':
                return { messages: [{ role: 'user', content: text(`Prompt with arguments: arg1='${args.arg1}', arg2='${args.arg2}'`) }] };
            case 'test_prompt_with_embedded_resource':
                return {
                    messages: [
                        {
                            role: 'user',
                            content: {
                                type: 'resource',
                                resource: { uri: args.resourceUri, mimeType: 'text/plain', text: 'Embedded resource content for testing.' },
                            },
                        },
                        { role: 'user', content: text('Please process the embedded resource above.') },
                    ],
                };
            case 'test_prompt_with_image':
                return {
                    messages: [
                        { role: 'user', content: { type: 'image', data: PNG, mimeType: 'image/png' } },
                        { role: 'user', content: text('Please analyze the image above.') },
                    ],
                };
            default:
                throw new T.McpError(T.ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
        }
    });
    return server;
}

/** Keeps every event of every stream, so a client can resume with Last-Event-ID. */
class MemoryEventStore {
    #events = new Map(); // eventId -> { streamId, message }
    #next = 0;
    async storeEvent(streamId, message) {
        const id = `${streamId}_${String(++this.#next).padStart(10, '0')}`;
        this.#events.set(id, { streamId, message });
        return id;
    }
    async getStreamIdForEventId(eventId) {
        return this.#events.get(eventId)?.streamId;
    }
    async replayEventsAfter(lastEventId, { send }) {
        const last = this.#events.get(lastEventId);
        if (!last) return '';
        let after = false;
        for (const [id, { streamId, message }] of this.#events) {
            if (id === lastEventId) after = true;
            else if (after && streamId === last.streamId && Object.keys(message).length > 0) await send(id, message);
        }
        return last.streamId;
    }
}

// DNS-rebinding protection, as the spec asks of servers on localhost: only a loopback
// Host, and no Origin but a loopback one.
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);
function loopbackOnly(req) {
    const host = (req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '');
    if (!LOOPBACK.has(host)) return false;
    const origin = req.headers.origin;
    if (origin === undefined) return true;
    try {
        return LOOPBACK.has(new URL(origin).hostname.toLowerCase());
    } catch {
        return false;
    }
}

function reply(res, status, message) {
    res.writeHead(status, { 'content-type': 'application/json' }).end(
        JSON.stringify({ jsonrpc: '2.0', error: { code: -32000, message }, id: null }),
    );
}

async function body(req) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const s = Buffer.concat(chunks).toString('utf8');
    return s ? JSON.parse(s) : undefined;
}

const sessions = new Map(); // mcp-session-id -> transport
const http = createServer(async (req, res) => {
    try {
        if (new URL(req.url, 'http://x').pathname !== '/mcp') return reply(res, 404, 'Not found');
        if (!loopbackOnly(req)) return reply(res, 403, 'Forbidden: Host or Origin is not loopback');
        const sid = req.headers['mcp-session-id'];
        const parsed = req.method === 'POST' ? await body(req) : undefined;
        if (sid !== undefined) {
            const transport = sessions.get(sid);
            if (!transport) return reply(res, 404, 'Session not found');
            return await transport.handleRequest(req, res, parsed);
        }
        const isInit = m => m && typeof m === 'object' && m.method === 'initialize';
        if (req.method !== 'POST' || !(Array.isArray(parsed) ? parsed.some(isInit) : isInit(parsed))) {
            return reply(res, 400, 'Bad Request: no valid session ID');
        }
        const transport = new StreamableHTTPServerTransport({
            sessionIdGenerator: () => randomUUID(),
            eventStore: new MemoryEventStore(),
            retryInterval: 500,
            onsessioninitialized: id => sessions.set(id, transport),
        });
        transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
        await mcpServer().connect(transport);
        await transport.handleRequest(req, res, parsed);
    } catch (e) {
        console.error('request failed:', e);
        if (!res.headersSent) reply(res, e instanceof SyntaxError ? 400 : 500, String(e?.message ?? e));
        else res.end();
    }
});
http.listen(PORT, '127.0.0.1', () => console.log(`listening ${PORT}`));
