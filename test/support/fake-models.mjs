// A fake model provider for the agent tests: the Anthropic Messages API (streaming SSE), the OpenAI
// Responses API (streaming SSE) and the Gemini API (generateContent / streamGenerateContent), each
// playing a scripted conversation chosen by a marker in the prompt:
//   [scenario:tools]  1) a tool call that writes /workspace/<file> 2) a shell tool call 3) a final answer
//   [scenario:slow]   a shell tool call that sleeps (for cancel tests)
//   [scenario:git]    a shell tool call that commits in /workspace and prints git's identity and askpass answer
//   otherwise         a final answer that quotes every user prompt of the conversation (for resume)
// Every request is logged on stdout as one JSON line (path, auth headers, prompts seen), which the
// tests read with `docker logs`. Plain Node, no dependencies: it runs in a container of a local image.
import { createServer } from 'node:http';

const PORT = Number(process.env.PORT ?? 8080);
const FILE = process.env.FAKE_FILE ?? 'hello.txt';
const FILE_CONTENT = process.env.FAKE_FILE_CONTENT ?? 'written by the agent\n';
const SHELL = process.env.FAKE_SHELL ?? 'echo shell-ran > /workspace/shell.txt && id -u';

const scenarioOf = (prompts) => {
  const last = prompts.at(-1) ?? '';
  const m = /\[scenario:([a-z]+)\]/.exec(last);
  return m ? m[1] : 'echo';
};

/** The step of a scripted conversation: how many tool results came back since the last prompt. */
function plan(prompts, toolResultsSinceLastPrompt) {
  const scenario = scenarioOf(prompts);
  if (scenario === 'tools') {
    if (toolResultsSinceLastPrompt === 0) return { tool: 'write' };
    if (toolResultsSinceLastPrompt === 1) return { tool: 'shell', command: SHELL };
    return { text: `Done: wrote /workspace/${FILE} and ran the shell command.` };
  }
  if (scenario === 'git') {
    if (toolResultsSinceLastPrompt === 0) return { tool: 'shell', command: 'cd /workspace && git commit --allow-empty -qm agent-commit && git log -1 --format="%an <%ae>" && "$GIT_ASKPASS" "Password for https://github.com" && head -n 1 ~/.gitconfig' };
    return { text: 'git done' };
  }
  if (scenario === 'slow') {
    if (toolResultsSinceLastPrompt === 0) return { tool: 'shell', command: 'echo started > /workspace/slow-started.txt; sleep 600; echo finished > /workspace/slow-finished.txt' };
    return { text: 'slow done' };
  }
  return { text: `Prompts so far (${prompts.length}): ${prompts.map((p) => JSON.stringify(p)).join(' | ')}` };
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

const sse = (res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  return (event, data) => res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`);
};

let seq = 0;
const nextId = (p) => `${p}${Date.now().toString(36)}${(seq++).toString(36)}`;

// ---------------------------------------------------------------- Anthropic Messages API
function anthropic(body, res, log) {
  const messages = body.messages ?? [];
  const prompts = [];
  let since = 0;
  for (const m of messages) {
    if (m.role !== 'user') continue;
    const blocks = typeof m.content === 'string' ? [{ type: 'text', text: m.content }] : m.content ?? [];
    const results = blocks.filter((b) => b.type === 'tool_result').length;
    const texts = blocks.filter((b) => b.type === 'text' && !/^<system-reminder>/.test(b.text ?? '')).map((b) => b.text);
    if (results > 0) since += results;
    else if (texts.length) {
      prompts.push(texts.join('\n'));
      since = 0;
    }
  }
  const toolNames = (body.tools ?? []).map((t) => t.name);
  // side requests (titles, summaries, quota checks) have no tools: answer them briefly
  const step = toolNames.length === 0 ? { text: 'ok' } : plan(prompts, since);
  log({ api: 'anthropic', prompts, since, tools: toolNames.length, stream: Boolean(body.stream), step: step.tool ?? 'text' });
  const model = body.model ?? 'claude-fake';
  const usage = { input_tokens: 100 + messages.length, output_tokens: 20, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 };
  let block;
  if (step.tool === 'write') block = { type: 'tool_use', id: nextId('toolu_'), name: 'Write', input: { file_path: `/workspace/${FILE}`, content: FILE_CONTENT } };
  else if (step.tool === 'shell') block = { type: 'tool_use', id: nextId('toolu_'), name: 'Bash', input: { command: step.command, description: 'Run the scripted shell command' } };
  else block = { type: 'text', text: step.text };
  const stop = block.type === 'tool_use' ? 'tool_use' : 'end_turn';
  const id = nextId('msg_');
  if (!body.stream) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id, type: 'message', role: 'assistant', model, content: [block], stop_reason: stop, stop_sequence: null, usage }));
    return;
  }
  const send = sse(res);
  send('message_start', { type: 'message_start', message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { ...usage, output_tokens: 1 } } });
  if (block.type === 'text') {
    send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: block.text } });
  } else {
    send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} } });
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify(block.input) } });
  }
  send('content_block_stop', { type: 'content_block_stop', index: 0 });
  send('message_delta', { type: 'message_delta', delta: { stop_reason: stop, stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
  send('message_stop', { type: 'message_stop' });
  res.end();
}

// ---------------------------------------------------------------- OpenAI Responses API
function openai(body, res, log) {
  const input = Array.isArray(body.input) ? body.input : [{ role: 'user', content: String(body.input ?? '') }];
  const prompts = [];
  let since = 0;
  for (const item of input) {
    if (item.type === 'function_call_output' || item.type === 'custom_tool_call_output') since += 1;
    else if ((item.type === 'message' || item.type === undefined) && item.role === 'user') {
      const parts = typeof item.content === 'string' ? [item.content] : (item.content ?? []).map((c) => c.text ?? '');
      const text = parts.join('\n');
      // Codex sends its environment context and AGENTS.md as user messages too: only real prompts count
      if (!/^\s*<(environment_context|user_instructions|permissions|INSTRUCTIONS)/.test(text) && !text.startsWith('# AGENTS.md')) {
        prompts.push(text);
        since = 0;
      }
    }
  }
  const tools = (body.tools ?? []).map((t) => t.name ?? t.type);
  const step = plan(prompts, since);
  log({ api: 'openai', prompts, since, tools, step: step.tool ?? 'text' });
  let item;
  if (step.tool) {
    const command = step.tool === 'write' ? `printf %s ${JSON.stringify(FILE_CONTENT)} > /workspace/${FILE}` : step.command;
    const callId = nextId('call_');
    if (tools.includes('exec_command')) item = { type: 'function_call', id: nextId('fc_'), call_id: callId, name: 'exec_command', arguments: JSON.stringify({ cmd: command, workdir: '/workspace' }) };
    else item = { type: 'function_call', id: nextId('fc_'), call_id: callId, name: 'shell', arguments: JSON.stringify({ command: ['bash', '-lc', command], workdir: '/workspace' }) };
  } else {
    item = { type: 'message', id: nextId('msg_'), role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: step.text, annotations: [] }] };
  }
  const id = nextId('resp_');
  const usage = { input_tokens: 200 + input.length, input_tokens_details: { cached_tokens: 0 }, output_tokens: 30, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: 230 + input.length };
  const response = { id, object: 'response', created_at: Math.floor(Date.now() / 1000), status: 'completed', model: body.model ?? 'gpt-fake', output: [item], usage };
  if (!body.stream) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(response));
    return;
  }
  const send = sse(res);
  send('response.created', { type: 'response.created', response: { ...response, status: 'in_progress', output: [] } });
  send('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: { ...item, ...(item.type === 'message' ? { content: [] } : {}) } });
  if (item.type === 'message') send('response.output_text.delta', { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: step.text });
  send('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item });
  send('response.completed', { type: 'response.completed', response });
  res.end();
}

// ---------------------------------------------------------------- Gemini API
function fillSchema(schema) {
  if (!schema || typeof schema !== 'object') return 'ok';
  if (Array.isArray(schema.enum) && schema.enum.length) return schema.enum[0];
  const type = String(schema.type ?? '').toLowerCase();
  if (type === 'object' || schema.properties) return Object.fromEntries(Object.entries(schema.properties ?? {}).map(([k, v]) => [k, fillSchema(v)]));
  if (type === 'array') return [];
  if (type === 'boolean') return false;
  if (type === 'number' || type === 'integer') return typeof schema.minimum === 'number' ? schema.minimum : 1;
  return 'ok';
}

function gemini(path, body, res, log) {
  const model = (/models\/([^:/]+)/.exec(path) ?? [])[1] ?? 'gemini-fake';
  const usageMetadata = { promptTokenCount: 150, candidatesTokenCount: 25, totalTokenCount: 175 };
  if (path.includes(':countTokens')) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ totalTokens: 150 }));
    return;
  }
  const schema = body.generationConfig?.responseJsonSchema ?? body.generationConfig?.responseSchema;
  const contents = body.contents ?? [];
  const prompts = [];
  let since = 0;
  for (const c of contents) {
    if (c.role !== 'user') continue;
    const parts = c.parts ?? [];
    const results = parts.filter((p) => p.functionResponse).length;
    const texts = parts.filter((p) => typeof p.text === 'string').map((p) => p.text);
    if (results > 0) since += results;
    else if (texts.length) {
      prompts.push(texts.join('\n'));
      since = 0;
    }
  }
  let parts;
  let kind;
  if (schema || body.generationConfig?.responseMimeType === 'application/json') {
    parts = [{ text: JSON.stringify(fillSchema(schema)) }];
    kind = 'json';
  } else {
    const step = plan(prompts, since);
    kind = step.tool ?? 'text';
    if (step.tool === 'write') parts = [{ functionCall: { name: 'write_file', args: { file_path: `/workspace/${FILE}`, content: FILE_CONTENT } } }];
    else if (step.tool === 'shell') parts = [{ functionCall: { name: 'run_shell_command', args: { command: step.command, description: 'Run the scripted shell command' } } }];
    else parts = [{ text: step.text }];
  }
  log({ api: 'gemini', path: path.replace(/\?.*/, ''), prompts, since, step: kind });
  const chunk = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: model };
  if (path.includes(':streamGenerateContent')) {
    const send = sse(res);
    send(undefined, chunk);
    res.end();
    return;
  }
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify(chunk));
}

createServer(async (req, res) => {
  const raw = await readBody(req);
  let body = {};
  try {
    body = raw ? JSON.parse(raw) : {};
  } catch {
    body = {};
  }
  const url = req.url ?? '/';
  const log = (extra) =>
    console.log(JSON.stringify({ fake: { method: req.method, path: url.replace(/\?.*/, ''), host: req.headers.host, auth: req.headers['x-api-key'] ?? req.headers.authorization ?? req.headers['x-goog-api-key'] ?? null, ...extra } }));
  try {
    if (req.method === 'POST' && /\/v1\/messages(\?|$)/.test(url)) return anthropic(body, res, log);
    if (req.method === 'POST' && /\/v1\/responses(\?|$)/.test(url)) return openai(body, res, log);
    if (req.method === 'POST' && /\/models\/[^/]+:(stream)?[gG]enerateContent|:countTokens/.test(url)) return gemini(url, body, res, log);
    log({ api: 'other' });
    res.setHeader('content-type', 'application/json');
    if (/\/models(\?|$)/.test(url)) return res.end(JSON.stringify({ object: 'list', data: [], models: [] }));
    res.end('{}');
  } catch (err) {
    console.error(err);
    res.statusCode = 500;
    res.end(JSON.stringify({ error: { message: String(err) } }));
  }
}).listen(PORT, () => console.log(JSON.stringify({ listening: PORT })));
