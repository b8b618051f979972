// The official MCP TypeScript SDK (`@modelcontextprotocol/sdk`: Client over StreamableHTTPClientTransport, the key as
// a bearer token) against the gateway's /mcp, which aggregates every mcp connector as `<connector>__<name>`.
// Arguments: <gateway base URL> <API key> <scenario> [...]:
//   tour            tools/list, an echo, a long call with progress, a C# server's tool, resources and prompts listed
//                   and one of each read, the session ended with DELETE;
//   refused <tool>  whether <tool> (a prefixed name) is listed, and what calling it answers;
//   progress <n>    <n> long calls of server-everything's trigger-long-running-operation (4 steps each): the
//                   progress each call saw before its result, and what the SDK reported as errors (a late
//                   notification, for a call already answered, is one).
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { run } from './common.mjs';

await run(async ({ url, key, model: scenario, more }) => {
  const transport = new StreamableHTTPClientTransport(new URL(`${url}/mcp`), {
    requestInit: { headers: { Authorization: `Bearer ${key}` } },
  });
  const client = new Client({ name: 'agent33-npm-test', version: '1.0.0' });
  const errors = [];
  client.onerror = (error) => errors.push(error.message);
  await client.connect(transport);
  const session = { id: Boolean(transport.sessionId), server: client.getServerVersion()?.name };

  const tools = [];
  let cursor;
  do {
    const page = await client.listTools(cursor ? { cursor } : {});
    tools.push(...page.tools.map((t) => t.name));
    cursor = page.nextCursor;
  } while (cursor);
  tools.sort();

  let results;
  if (scenario === 'tour') {
    const text = (result) => result.content.filter((c) => c.type === 'text').map((c) => c.text).join('');

    const echoed = await client.callTool({ name: 'mcp:everything-a__echo', arguments: { message: 'hello through the gateway' } });

    const progress = [];
    const long = await client.callTool(
      { name: 'mcp:everything-b__trigger-long-running-operation', arguments: { duration: 1, steps: 4 } },
      undefined,
      { onprogress: (p) => progress.push([p.progress, p.total]), timeout: 30_000 },
    );

    const searched = await client.callTool({ name: 'mcp:tools__search_docs', arguments: { query: 'breakers' } });

    const resources = (await client.listResources()).resources.map((r) => r.uri);
    const features = resources.find((u) => u.startsWith('mcp:everything-a__') && u.endsWith('/features.md'));
    const read = features ? await client.readResource({ uri: features }) : undefined;
    let templates;
    try {
      templates = (await client.listResourceTemplates()).resourceTemplates.map((t) => t.uriTemplate).sort();
    } catch (error) {
      templates = { thrown: error.name, code: error.code, message: error.message };
    }

    const prompts = (await client.listPrompts()).prompts.map((p) => p.name).sort();
    const prompt = await client.getPrompt({ name: 'mcp:everything-b__simple-prompt' });

    await transport.terminateSession(); // DELETE /mcp: an error status throws
    const ended = transport.sessionId === undefined;

    results = {
      echo: { text: text(echoed), isError: echoed.isError ?? false },
      long: { text: text(long), isError: long.isError ?? false, progress },
      search: text(searched),
      resources: {
        everythingA: resources.filter((u) => u.startsWith('mcp:everything-a__')).length,
        everythingB: resources.filter((u) => u.startsWith('mcp:everything-b__')).length,
        unprefixed: resources.filter((u) => !u.startsWith('mcp:everything-a__') && !u.startsWith('mcp:everything-b__')),
        read: features ?? null,
        readContents: read ? read.contents.map((c) => ({ uri: c.uri, mimeType: c.mimeType, hasText: (c.text ?? '').length > 0 })) : null,
        templates,
      },
      prompts,
      prompt: prompt.messages.map((m) => m.content.text),
      ended,
    };
  } else if (scenario === 'refused') {
    const [tool] = more;
    let answer;
    try {
      const result = await client.callTool({ name: tool, arguments: { message: 'should not run' } });
      answer = { isError: result.isError ?? false, content: result.content };
    } catch (error) {
      answer = { thrown: error.name, code: error.code, message: error.message };
    }
    await transport.terminateSession();
    results = { listed: tools.includes(tool), answer };
  } else if (scenario === 'progress') {
    const calls = [];
    for (let i = 0; i < Number(more[0] ?? 5); i++) {
      const progress = [];
      await client.callTool(
        { name: 'mcp:everything-b__trigger-long-running-operation', arguments: { duration: 0.4, steps: 4 } },
        undefined,
        { onprogress: (p) => progress.push(p.progress), timeout: 30_000 },
      );
      calls.push(progress);
    }
    await new Promise((resolve) => setTimeout(resolve, 500)); // a notification that comes after its result
    await transport.terminateSession();
    results = { calls };
  } else {
    throw new Error(`unknown scenario '${scenario}' (tour, refused <tool> or progress <n>)`);
  }
  await client.close();
  return { session, tools, ...results, errors };
});
