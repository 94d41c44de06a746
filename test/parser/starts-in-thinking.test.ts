/**
 * startsInThinking on prompts rendered by MiMoTokenizer.applyChatTemplate (templates/chat_template.jinja, spec §5.2):
 * thinking on/off, a tools block whose instructions mention </think>, earlier assistant reasoning; and a tool-use
 * history whose next model output parses into reasoning, content and a tool call.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeTokenizerFiles } from '../../src/tokenizer/files.js';
import { MiMoTokenizer, type ChatMessage, type ChatTool } from '../../src/tokenizer/tokenizer.js';
import { MiMoOutputParser } from '../../src/parser/mimo-output-parser.js';
import { startsInThinking } from '../../src/parser/starts-in-thinking.js';
import { RequestError } from '../../src/errors.js';

const TOOLS: ChatTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather forecast for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } }, required: ['city'] },
    },
  },
];

/** system, user, assistant (reasoning + a tool call), tool result. */
const HISTORY: ChatMessage[] = [
  { role: 'system', content: 'You are a weather bot.' },
  { role: 'user', content: 'Weather in Paris for 2 days?' },
  {
    role: 'assistant',
    content: '',
    reasoning_content: 'I should call get_weather.',
    tool_calls: [{ type: 'function', id: 'call_a', function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' } }],
  },
  { role: 'tool', content: '{"forecast": ["sun", "rain"]}' },
];

let tmp: string;
let tok: MiMoTokenizer;

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-parser-'));
  writeTokenizerFiles(path.join(tmp, 'ckpt'));
  tok = MiMoTokenizer.load(path.join(tmp, 'ckpt'));
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('startsInThinking', () => {
  it('hand-written prompt ends', () => {
    assert.equal(startsInThinking('<|im_start|>assistant\n<think>'), true);
    assert.equal(startsInThinking('<|im_start|>assistant\n<think></think>'), false);
    assert.equal(startsInThinking('<|im_start|>assistant\n'), false);
    assert.equal(startsInThinking('<|im_start|>assistant\n<think>partial reasoning'), true, 'continuing a final message');
    assert.equal(startsInThinking('<|im_start|>user\nHi<|im_end|>'), false, 'no generation prompt');
    assert.equal(startsInThinking('<think>raw prompt, no turns'), true);
    assert.equal(startsInThinking(''), false);
  });

  it('a prompt that is not a string → RequestError naming it, not a TypeError', () => {
    for (const bad of [undefined, null, 5, ['<think>']]) {
      assert.throws(() => startsInThinking(bad as unknown as string), (e: unknown) => e instanceof RequestError && e.param === 'renderedPrompt' && /startsInThinking\(renderedPrompt\).*string/.test(e.message), String(bad));
    }
  });

  it('rendered prompts: thinking on → true, off → false, with or without tools', () => {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Hello' }];
    for (const tools of [undefined, TOOLS]) {
      const on = tok.applyChatTemplate(messages, { tools, enableThinking: true });
      const off = tok.applyChatTemplate(messages, { tools, enableThinking: false });
      assert.equal(startsInThinking(on), true);
      assert.equal(startsInThinking(off), false);
    }
  });

  it('tags in earlier turns never decide it', () => {
    const withTools = tok.applyChatTemplate([{ role: 'user', content: 'Hi' }], { tools: TOOLS, enableThinking: true });
    assert.ok(withTools.includes('</think>'), 'the tools instructions mention </think>');
    assert.ok(withTools.lastIndexOf('</think>') > withTools.indexOf('<think>'), 'a whole-prompt search would say false');
    const history: ChatMessage[] = [
      { role: 'user', content: 'Q1 <think>' },
      { role: 'assistant', content: 'A1', reasoning_content: 'R1' },
      { role: 'user', content: 'Q2' },
    ];
    assert.equal(startsInThinking(tok.applyChatTemplate(history, { enableThinking: true })), true);
    assert.equal(startsInThinking(tok.applyChatTemplate(history, { enableThinking: false })), false);
  });
});

describe('a tool-use history rendered with thinking on', () => {
  it('the next output parses into reasoning and content, or reasoning and a typed tool call', () => {
    const prompt = tok.applyChatTemplate(HISTORY, { tools: TOOLS, enableThinking: true });
    assert.ok(prompt.includes('<think>I should call get_weather.</think><tool_call>\n<function=get_weather>'));
    assert.ok(prompt.endsWith('</tool_response>\n<|im_end|><|im_start|>assistant\n<think>'));
    assert.equal(startsInThinking(prompt), true);

    const answer = new MiMoOutputParser({ tools: TOOLS, startsInThinking: startsInThinking(prompt) });
    answer.push('The tool says sun, then rain.</think>\n\nSunny today, rain tomorrow.');
    assert.deepEqual(answer.finish(), {
      content: 'Sunny today, rain tomorrow.', reasoningContent: 'The tool says sun, then rain.', toolCalls: [], finishedInThinking: false,
    });

    const again = new MiMoOutputParser({ tools: TOOLS, startsInThinking: startsInThinking(prompt), toolCallId: () => 'call_b' });
    again.push('Check Lyon too.</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nLyon\n</parameter>\n');
    again.push('<parameter=days>\n1\n</parameter>\n</function>\n</tool_call>');
    assert.deepEqual(again.finish(), {
      content: '', reasoningContent: 'Check Lyon too.',
      toolCalls: [{ id: 'call_b', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Lyon","days":1}' } }],
      finishedInThinking: false,
    });
  });
});
