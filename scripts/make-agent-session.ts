/**
 * `node dist/scripts/make-agent-session.js [--out bench/data/agent-session.json]`: writes the coding-agent session
 * that bench/agent.ts replays: a ~3K-token system prompt, 10 tool definitions, then 10 turns (a user request, or
 * the results of the previous turn's tool calls, then the assistant's reasoning and tool calls) of 600–1,500 tokens
 * each. Tool results are real excerpts of this repository's sources (deterministic: fixed files and offsets), so
 * the session tokenizes like a real agent's.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'bench/data/agent-session.json' } } });
const root = process.cwd();
const read = (f: string) => fs.readFileSync(path.join(root, f), 'utf8');

const rules = [
  'You are an autonomous coding agent working in a TypeScript repository. You read files, search, edit, run commands and commit.',
  'Always read a file before editing it. Keep edits minimal and in the style of the surrounding code. Never reformat files you do not own.',
  'Run the narrowest test that covers your change; run the whole suite only at the end. Report figures only when you measured them.',
  'When a command fails, read its output carefully before retrying. Do not retry the same command more than twice.',
  'Prefer small commits with clear messages. Never commit secrets. Never push unless asked.',
];
const readme = read('README.md');
const system = [...rules, '', '# Project notes', readme.slice(0, 6000)].join('\n');

const tool = (name: string, description: string, properties: Record<string, unknown>, required: string[]) => ({ type: 'function', function: { name, description, parameters: { type: 'object', properties, required } } });
const str = (description: string) => ({ type: 'string', description });
const tools = [
  tool('read_file', 'Read a file of the repository, optionally a line range.', { path: str('path from the repository root'), start: { type: 'integer' }, end: { type: 'integer' } }, ['path']),
  tool('write_file', 'Create or overwrite a file.', { path: str('path'), content: str('the whole new content') }, ['path', 'content']),
  tool('edit_file', 'Replace one exact occurrence of old_text by new_text.', { path: str('path'), old_text: str('text to replace'), new_text: str('replacement') }, ['path', 'old_text', 'new_text']),
  tool('list_dir', 'List a directory.', { path: str('directory') }, ['path']),
  tool('grep', 'Search the repository for a regular expression.', { pattern: str('regex'), path: str('where to search') }, ['pattern']),
  tool('run_command', 'Run a shell command in the repository root and return its output.', { command: str('bash command'), timeout_s: { type: 'integer' } }, ['command']),
  tool('git_diff', 'Show the working tree diff.', { path: str('limit to a path') }, []),
  tool('git_commit', 'Commit the staged and unstaged changes of tracked files.', { message: str('commit message') }, ['message']),
  tool('todo', 'Record the plan as a list of steps with their state.', { items: { type: 'array', items: { type: 'object', properties: { step: { type: 'string' }, done: { type: 'boolean' } } } } }, ['items']),
  tool('ask_user', 'Ask the user a question when the task is ambiguous.', { question: str('the question') }, ['question']),
];

// Each turn: the tool results of the previous turn's calls (or the user's request), then the assistant's answer.
const files = ['src/engine/kv-cache.ts', 'src/engine/scheduler.ts', 'src/engine/sequence.ts', 'src/engine/decoders.ts', 'src/model/mimo-v2/model.ts', 'src/engine/speculative/mtp-proposer.ts', 'src/server/metrics.ts', 'src/engine/generate.ts', 'src/model/mimo-v2/attention.ts', 'src/engine/step.ts'];
const sizes = [3600, 5200, 2600, 6000, 4200, 3000, 5600, 2800, 4800, 3400];
const messages: unknown[] = [{ role: 'user', content: 'The prefix cache should report its bytes in /metrics. Find where the metrics are registered and where the KV cache lives, then add the gauges and a test.' }];
for (let t = 0; t < 10; t++) {
  const file = files[t]!;
  const callId = `call_${t}`;
  const reasoning = `Turn ${t + 1}: I need to understand ${file} before changing anything. ` + 'I will read it, note the names of the buffers and how their sizes are reported, and then decide where the new figures belong. '.repeat(2);
  messages.push({ role: 'assistant', content: '', reasoning_content: reasoning, tool_calls: [{ id: callId, type: 'function', function: { name: 'read_file', arguments: JSON.stringify({ path: file }) } }] });
  const text = read(file);
  messages.push({ role: 'tool', tool_call_id: callId, content: text.slice(0, sizes[t]!) });
  if (t % 3 === 2) messages.push({ role: 'user', content: `Progress check ${t + 1}: keep going, and keep the change small.` });
}
fs.mkdirSync(path.dirname(values.out!), { recursive: true });
fs.writeFileSync(values.out!, JSON.stringify({ description: 'coding-agent session replayed by bench/agent.ts (made by scripts/make-agent-session.ts)', system, tools, messages }, null, 1));
console.log(`wrote ${values.out} (${messages.length} messages, ${system.length} system characters)`);
