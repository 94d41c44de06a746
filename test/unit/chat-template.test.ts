/**
 * templates/chat_template.jinja rendered through MiMoTokenizer.applyChatTemplate, compared with strings written by
 * hand from spec §5.2: default system prompt, turns joined with no newline, thinking on/off generation prompt,
 * assistant reasoning, XML tool calls, grouped tool results, the tools block; plus where the template comes from.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeTokenizerFiles } from '../../src/tokenizer/files.js';
import { MiMoTokenizer, type ChatMessage, type ChatTool } from '../../src/tokenizer/tokenizer.js';
import { ConfigError, RequestError } from '../../src/errors.js';

const SYSTEM = '<|im_start|>system\nYou are MiMo, a helpful AI assistant engineered by Xiaomi.<|im_end|>';

let tmp: string;
let tok: MiMoTokenizer;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-chat-template-'));
  writeTokenizerFiles(path.join(tmp, 'ckpt'));
  tok = MiMoTokenizer.load(path.join(tmp, 'ckpt'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const WEATHER_CALL_ARGS = { city: 'Beijing', days: 3, metric: true, opts: { unit: 'c' } };

describe('chat template renderings (spec §5.2)', () => {
  const cases: { name: string; messages: ChatMessage[]; opts?: Parameters<MiMoTokenizer['applyChatTemplate']>[1]; expected: string }[] = [
    {
      name: 'default system, user turn, thinking on: generation prompt opens <think>',
      messages: [{ role: 'user', content: 'Hello' }],
      expected: `${SYSTEM}<|im_start|>user\nHello<|im_end|><|im_start|>assistant\n<think>`,
    },
    {
      name: 'thinking off: generation prompt closes an empty <think></think>',
      messages: [{ role: 'user', content: 'Hello' }],
      opts: { enableThinking: false },
      expected: `${SYSTEM}<|im_start|>user\nHello<|im_end|><|im_start|>assistant\n<think></think>`,
    },
    {
      name: 'caller system message replaces the default; no generation prompt',
      messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }],
      opts: { addGenerationPrompt: false },
      expected: '<|im_start|>system\nBe brief.<|im_end|><|im_start|>user\nHi<|im_end|>',
    },
    {
      name: 'assistant history: reasoning_content in <think>, no reasoning renders no tags',
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Hello!', reasoning_content: 'Greet back.' },
        { role: 'user', content: 'Thanks' },
        { role: 'assistant', content: 'Welcome.' },
      ],
      opts: { addGenerationPrompt: false },
      expected:
        `${SYSTEM}<|im_start|>user\nHi<|im_end|><|im_start|>assistant\n<think>Greet back.</think>Hello!<|im_end|>` +
        '<|im_start|>user\nThanks<|im_end|><|im_start|>assistant\nWelcome.<|im_end|>',
    },
    {
      name: 'assistant history: reasoning split out of content around </think>',
      messages: [{ role: 'user', content: 'Hi' }, { role: 'assistant', content: '<think>Greet back.</think>Hello!' }],
      opts: { addGenerationPrompt: false },
      expected: `${SYSTEM}<|im_start|>user\nHi<|im_end|><|im_start|>assistant\n<think>Greet back.</think>Hello!<|im_end|>`,
    },
    {
      name: 'keepAllReasoning false: reasoning before the last user turn is dropped, after it kept',
      messages: [
        { role: 'user', content: 'Q1' },
        { role: 'assistant', content: 'A1', reasoning_content: 'r1' },
        { role: 'user', content: 'Q2' },
        { role: 'assistant', content: 'A2', reasoning_content: 'r2' },
      ],
      opts: { addGenerationPrompt: false, keepAllReasoning: false },
      expected:
        `${SYSTEM}<|im_start|>user\nQ1<|im_end|><|im_start|>assistant\nA1<|im_end|>` +
        '<|im_start|>user\nQ2<|im_end|><|im_start|>assistant\n<think>r2</think>A2<|im_end|>',
    },
    {
      name: 'tool call in XML (non-string values JSON-encoded), grouped tool results, next user turn',
      messages: [
        { role: 'user', content: 'Weather?' },
        {
          role: 'assistant',
          content: 'Checking.',
          reasoning_content: 'Need the tool.',
          tool_calls: [{ type: 'function', function: { name: 'get_weather', arguments: WEATHER_CALL_ARGS } }],
        },
        { role: 'tool', content: 'sunny' },
        { role: 'tool', content: '22 C' },
        { role: 'user', content: 'Thanks' },
      ],
      expected:
        `${SYSTEM}<|im_start|>user\nWeather?<|im_end|>` +
        '<|im_start|>assistant\n<think>Need the tool.</think>Checking.' +
        '<tool_call>\n<function=get_weather>\n<parameter=city>Beijing</parameter>\n<parameter=days>3</parameter>\n' +
        '<parameter=metric>true</parameter>\n<parameter=opts>{"unit": "c"}</parameter>\n</function>\n</tool_call><|im_end|>' +
        '<|im_start|>tool\n<tool_response>\nsunny\n</tool_response>\n<tool_response>\n22 C\n</tool_response>\n<|im_end|>' +
        '<|im_start|>user\nThanks<|im_end|><|im_start|>assistant\n<think>',
    },
    {
      name: 'two tool calls in one turn, arguments as JSON text, a single tool result ends the prompt',
      messages: [
        { role: 'user', content: 'Go' },
        {
          role: 'assistant',
          content: '',
          tool_calls: [
            { type: 'function', function: { name: 'a', arguments: '{"x": "1\\n2"}' } },
            { type: 'function', function: { name: 'b', arguments: '{}' } },
          ],
        },
        { role: 'tool', content: 'ok' },
      ],
      opts: { enableThinking: false },
      expected:
        `${SYSTEM}<|im_start|>user\nGo<|im_end|><|im_start|>assistant\n` +
        '<tool_call>\n<function=a>\n<parameter=x>1\n2</parameter>\n</function>\n</tool_call>' +
        '<tool_call>\n<function=b>\n</function>\n</tool_call><|im_end|>' +
        '<|im_start|>tool\n<tool_response>\nok\n</tool_response>\n<|im_end|><|im_start|>assistant\n<think></think>',
    },
  ];
  for (const c of cases) {
    it(c.name, () => assert.equal(tok.applyChatTemplate(c.messages, c.opts), c.expected));
  }

  it('arguments as JSON text render exactly like the same arguments as an object', () => {
    const withObject: ChatMessage[] = [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: WEATHER_CALL_ARGS } }] }];
    const withText: ChatMessage[] = [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'get_weather', arguments: JSON.stringify(WEATHER_CALL_ARGS) } }] }];
    assert.equal(tok.applyChatTemplate(withText), tok.applyChatTemplate(withObject));
  });

  it('encodes a thinking-off prompt to the ids of a MiMo-V2 prompt (system 8948, user 872, assistant 77091)', () => {
    const prompt = tok.applyChatTemplate([{ role: 'user', content: 'Hello' }], { enableThinking: false });
    assert.deepEqual(tok.encode(prompt), [
      151644, 8948, 198, 2610, 525, 20740, 25612, 11, 264, 10950, 15235, 17847, 44936, 553, 71449, 13, 151645,
      151644, 872, 198, 9707, 151645, 151644, 77091, 198, 151667, 151668,
    ]);
  });
});

describe('tools block', () => {
  const tools: ChatTool[] = [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: ' Current weather of a city. ',
        parameters: {
          type: 'object',
          properties: {
            city: { type: 'string', description: 'City name', enum: ['Beijing', 'Paris'] },
            days: { type: ['integer', 'null'] },
          },
          required: ['city'],
        },
      },
    },
  ];
  const prompt = () => tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { tools, addGenerationPrompt: false });

  it('describes each function in XML inside <tools>, extra schema keys as <key>value</key>', () => {
    const expected =
      '<|im_start|>system\nYou are MiMo, a helpful AI assistant engineered by Xiaomi.' +
      '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou have access to the following functions:\n\n' +
      '<tools>\n<function>\n<name>get_weather</name>\n<description>Current weather of a city.</description>\n<parameters>' +
      '\n<parameter>\n<name>city</name>\n<type>string</type>\n<description>City name</description>\n<enum>["Beijing", "Paris"]</enum>\n</parameter>' +
      '\n<parameter>\n<name>days</name>\n<type>["integer", "null"]</type>\n</parameter>' +
      '\n<required>["city"]</required>\n</parameters>\n</function>\n</tools>';
    assert.ok(prompt().startsWith(expected), prompt());
  });

  it('then shows the call format and the rules, and closes the system turn', () => {
    const text = prompt();
    const instructions = text.slice(text.indexOf('</tools>'), text.indexOf('<|im_end|>'));
    assert.ok(instructions.includes('<tool_call>\n<function=example_function_name>\n<parameter=example_parameter_1>value_1</parameter>'));
    assert.ok(instructions.includes('</think>'), 'rule: close </think> before calling');
    assert.ok(instructions.includes('verbatim'), 'rule: parameter values are verbatim');
    assert.ok(text.endsWith('</IMPORTANT><|im_end|><|im_start|>user\nHi<|im_end|>'));
  });

  it('renders no tools block for an empty tool list', () => {
    assert.equal(tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { tools: [], addGenerationPrompt: false }), `${SYSTEM}<|im_start|>user\nHi<|im_end|>`);
  });
});

describe('applyChatTemplate errors', () => {
  const isRequestError = (param: string) => (e: unknown) => e instanceof RequestError && e.param === param;

  it('rejects an unknown role', () => {
    assert.throws(() => tok.applyChatTemplate([{ role: 'developer', content: 'x' } as unknown as ChatMessage]), isRequestError('messages'));
  });
  it('rejects tool-call arguments that are not a JSON object', () => {
    const call = (args: string) => [{ role: 'assistant', content: '', tool_calls: [{ function: { name: 'f', arguments: args } }] }] as ChatMessage[];
    assert.throws(() => tok.applyChatTemplate(call('{"x": ')), isRequestError('messages'));
    assert.throws(() => tok.applyChatTemplate(call('[1, 2]')), isRequestError('messages'));
  });
  it('rejects a tool without a name', () => {
    assert.throws(() => tok.applyChatTemplate([{ role: 'user', content: 'x' }], { tools: [{ function: {} } as unknown as ChatTool] }), isRequestError('tools'));
  });
});

describe('chat template source', () => {
  /** A checkpoint dir whose template comes from tokenizer_config.json (or nowhere). */
  function dirWithConfigTemplate(name: string, chatTemplate: unknown): string {
    const dir = path.join(tmp, name);
    writeTokenizerFiles(dir);
    fs.rmSync(path.join(dir, 'chat_template.jinja'));
    const configFile = path.join(dir, 'tokenizer_config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8'));
    if (chatTemplate !== undefined) config.chat_template = chatTemplate;
    fs.writeFileSync(configFile, JSON.stringify(config));
    return dir;
  }

  it('falls back to the chat_template key of tokenizer_config.json', () => {
    const loaded = MiMoTokenizer.load(dirWithConfigTemplate('config-template', '{% for m in messages %}[{{ m.role }}:{{ m.content }}]{% endfor %}'));
    assert.equal(loaded.applyChatTemplate([{ role: 'user', content: 'Hi' }]), '[user:Hi]');
  });

  it('prefers chat_template.jinja over the config key', () => {
    const dir = dirWithConfigTemplate('both-templates', 'from config');
    fs.writeFileSync(path.join(dir, 'chat_template.jinja'), 'from file');
    assert.equal(MiMoTokenizer.load(dir).applyChatTemplate([]), 'from file');
  });

  it('throws ConfigError naming tokenizer_config.json when there is no template, or it does not parse', () => {
    const none = MiMoTokenizer.load(dirWithConfigTemplate('no-template', undefined));
    assert.equal(none.chatTemplate, undefined);
    assert.throws(() => none.applyChatTemplate([{ role: 'user', content: 'Hi' }]), (e: unknown) => e instanceof ConfigError && e.key === 'chat_template');
    const badDir = dirWithConfigTemplate('bad-template', '{% if %}');
    assert.throws(() => MiMoTokenizer.load(badDir), (e: unknown) => e instanceof ConfigError && e.file.endsWith('tokenizer_config.json'));
  });
});
