/**
 * MiMoOutputParser invariance (STYLE habit 8): for a table of reasoning / tool-call texts, every split into two
 * pushes and one character per push give the same finish() result as one push, and the concatenated stream deltas
 * (every push plus flush) rebuild that result: content, reasoning, and per call index id, name and arguments (a
 * call that repeats a parameter name streams every occurrence; its result text is that JSON with the name once).
 * A call the stream started is never dropped from the result, cut off or not.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ParseResult } from '../../src/parser/types.js';
import { checkStream, parseChunks, type Stream } from './stream-check.js';
import type { ChatTool } from '../../src/tokenizer/tokenizer.js';

const TOOLS: ChatTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
  {
    type: 'function',
    function: {
      name: 'run',
      parameters: {
        type: 'object',
        properties: { code: { type: 'string' }, options: { type: 'object' }, flags: { type: 'array' }, dry: { type: 'boolean' } },
      },
    },
  },
];

interface Case {
  name: string;
  text: string;
  thinking: boolean;
  toolCallsInThinking?: boolean;
  toolCalls?: boolean;
  forcedToolCall?: boolean;
}

const CALL_WEATHER = '<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>';
const CALL_TIME = '<tool_call>\n<function=get_time>\n</function>\n</tool_call>';

const CASES: Case[] = [
  { name: 'reasoning, content, one call', thinking: true, text: `Let me think.\nThe user wants weather.\n</think>\n\nI'll check.\n${CALL_WEATHER}` },
  { name: '<think> at the start opens reasoning', thinking: false, text: '\n<think>reason <b>bold</b></think>\nHello <b>world</b>, a < b & c </thin' },
  { name: 'two calls back to back, the first without parameters', thinking: false, text: `${CALL_TIME}\n${CALL_WEATHER}\n` },
  { name: 'text ends inside thinking', thinking: true, text: 'still thinking about <tool_call> and </thi' },
  { name: 'truncated call after its name', thinking: false, text: 'Answer: <tool_call>\n<function=get_weather>\n<parameter=city>Pa' },
  { name: 'forced call, then text where a parameter should be', thinking: false, forcedToolCall: true, text: '<tool_call>\n<function=get_weather>\nI cannot <tool_call>\n<function=get_time>\n</function>\n</tool_call>' },
  { name: 'forced call cut off after its name', thinking: false, forcedToolCall: true, text: '<tool_call>\n<function=get_weather>\n' },
  { name: 'truncated call after a parameter', thinking: false, text: 'A <tool_call>\n<function=get_weather>\n<parameter=city>Pa</parameter>\n<parameter=da' },
  { name: 'tag-like text that is no call', thinking: false, text: 'See <tool_call> tag use; <tool_call>\n<function=x\n> and <tool_cal' },
  { name: 'call inside the reasoning', thinking: true, text: `I need data.\n${CALL_TIME}\nThen answer.</think>Done.` },
  { name: 'call inside the reasoning kept as reasoning', thinking: true, toolCallsInThinking: false, text: `I need data.\n${CALL_TIME}\nThen answer.</think>Done.` },
  {
    name: 'entities, nested JSON, boolean',
    thinking: false,
    text: '<tool_call>\n<function=run>\n<parameter=code>\nif a &lt; b &amp;&amp; c:\n  print(&quot;</think>&quot;)\n</parameter>\n' +
      '<parameter=options>{"a": [1, 2], "b": {"c": null}}</parameter>\n<parameter=flags>["-v", "-q"]</parameter>\n' +
      '<parameter=dry>True</parameter>\n</function>\n</tool_call>',
  },
  { name: 'content before, between and after calls', thinking: false, text: `Checking.\n\n${CALL_TIME}\n\nDone.\n\n${CALL_TIME}\n ` },
  { name: 'unclosed call of a tool not offered, in reasoning holding </think>', thinking: true, text: 'a <tool_call>\n<function=f>\n<parameter=x>v</think>\nanswer' },
  { name: 'not a <think> tag at the start', thinking: false, text: '  <thinker> and <think>' },
  { name: 'redundant <think> when reasoning is already open', thinking: true, text: ' <think>r</think>c' },
  { name: 'empty output', thinking: false, text: '' },
  { name: 'lone <', thinking: true, text: '<' },
  { name: 'no tool calls read (no tools offered)', thinking: true, toolCalls: false, text: `r ${CALL_TIME}</think>\n\nA ${CALL_WEATHER}\n <tool_cal` },
  {
    name: 'a parameter name repeated',
    thinking: false,
    text: 'x\n<tool_call>\n<function=get_weather>\n<parameter=city>A</parameter>\n<parameter=days>2</parameter>\n<parameter=city>B</parameter>\n</function>\n</tool_call>',
  },
];

function parse(c: Case, chunks: string[]): { result: ParseResult; stream: Stream } {
  const options = { tools: TOOLS, startsInThinking: c.thinking, toolCallsInThinking: c.toolCallsInThinking, toolCalls: c.toolCalls, forcedToolCall: c.forcedToolCall };
  return parseChunks(options, chunks);
}

describe('MiMoOutputParser: the result does not depend on how the text is split', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const whole = parse(c, [c.text]);
      checkStream(whole, 'one push');
      for (let cut = 0; cut <= c.text.length; cut++) {
        const split = parse(c, [c.text.slice(0, cut), c.text.slice(cut)]);
        assert.deepEqual(split.result, whole.result, `split at ${cut}`);
        checkStream(split, `split at ${cut}`);
      }
      const chars = parse(c, [...c.text]);
      assert.deepEqual(chars.result, whole.result, 'one character per push');
      checkStream(chars, 'one character per push');
    });
  }

  it('the table covers tool calls, reasoning, and the end inside thinking', () => {
    const results = CASES.map((c) => parse(c, [c.text]).result);
    assert.ok(results.filter((r) => r.toolCalls.length > 0).length >= 5);
    assert.ok(results.filter((r) => r.reasoningContent !== '').length >= 5);
    assert.ok(results.some((r) => r.finishedInThinking));
    const repeated = CASES.findIndex((c) => c.name === 'a parameter name repeated');
    assert.equal(results[repeated]!.toolCalls[0]!.function.arguments, '{"city":"B","days":2}');
    const noCalls = CASES.findIndex((c) => c.toolCalls === false);
    assert.deepEqual(results[noCalls]!.toolCalls, []);
    assert.ok(results[noCalls]!.content.includes('<tool_call>') && results[noCalls]!.reasoningContent.includes('<tool_call>'));
  });
});

/** mulberry32: a tiny seeded PRNG, so the random table is the same on every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = [
  'a', 'b c', ' ', '\n', '\n\n', '<', '>', '&lt;', '<think>', '</think>', '</thi', '<tool_call>', '<tool_call>\n',
  '</tool_call>', '<function=get_weather>', '<function=get_time>\n', '<function=', '</function>', '<parameter=city>',
  '<parameter=days>', '3', '</parameter>', '</parameter>\n', CALL_TIME, CALL_WEATHER,
  // Tag text inside values, unclosed values, names that are not calls, the tool with code/options parameters.
  '<function=run>\n', '<parameter=code>', '<parameter=options>', '<parameter=dry>', '<function={{ x }}>', '<function=nope>',
  '<tool_call>\n<function=run>\n<parameter=code>\n', '</function>\n</tool_call>', 'print("</parameter>")',
];

describe('MiMoOutputParser: random texts from tag fragments, random splits', () => {
  it('600 texts × (3 random splits + one character per push) give the one-push result (every 7th without tool calls)', () => {
    const random = prng(20240611);
    for (let n = 0; n < 600; n++) {
      const parts = Array.from({ length: 1 + Math.floor(random() * 14) }, () => FRAGMENTS[Math.floor(random() * FRAGMENTS.length)]);
      const c: Case = { name: `random ${n}`, text: parts.join(''), thinking: random() < 0.5, toolCallsInThinking: random() < 0.7, toolCalls: n % 7 !== 0 };
      const whole = parse(c, [c.text]);
      assert.equal(whole.stream.content, whole.result.content, `${c.name}: ${JSON.stringify(c.text)}`);
      assert.equal(whole.stream.reasoning, whole.result.reasoningContent, `${c.name}: ${JSON.stringify(c.text)}`);
      const chunkings = [[...c.text]];
      for (let k = 0; k < 3; k++) {
        const chunks: string[] = [];
        for (let at = 0; at < c.text.length;) {
          const size = 1 + Math.floor(random() * 12);
          chunks.push(c.text.slice(at, at + size));
          at += size;
        }
        chunkings.push(chunks);
      }
      for (const chunks of chunkings) {
        const split = parse(c, chunks);
        assert.deepEqual(split.result, whole.result, `${c.name}: ${JSON.stringify(chunks)}`);
        assert.equal(split.stream.content, split.result.content);
        assert.equal(split.stream.reasoning, split.result.reasoningContent);
        checkStream(split, `${c.name}: ${JSON.stringify(chunks)}`);
      }
    }
  });
});
