/**
 * MiMoOutputParser results written by hand from spec §5.2 and the vLLM qwen3_xml / SGLang mimo parser behaviour:
 * reasoning split, whitespace around calls, value newlines, entities, schema typing, unknown tools, malformed calls,
 * streaming order of deltas, the tool-calls-in-thinking and tool-calls switches, repeated parameter names, and the
 * validation of the options.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MiMoOutputParser, type MiMoOutputParserOptions } from '../../src/parser/mimo-output-parser.js';
import type { ParseResult, ParserDelta } from '../../src/parser/types.js';
import { RequestError } from '../../src/errors.js';
import type { ChatTool } from '../../src/tokenizer/tokenizer.js';

const TOOLS: ChatTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Weather forecast',
      parameters: {
        type: 'object',
        properties: {
          city: { type: 'string' },
          days: { type: 'integer' },
          ratio: { type: 'number' },
          metric: { type: 'boolean' },
          opts: { type: 'object' },
          hours: { type: 'array' },
          note: { type: ['string', 'null'] },
          limit: { type: ['integer', 'null'] },
        },
      },
    },
  },
  { type: 'function', function: { name: 'get_time' } },
];

function parse(text: string, options: Partial<MiMoOutputParserOptions> = {}): ParseResult {
  const parser = new MiMoOutputParser({ tools: TOOLS, startsInThinking: false, toolCallId: (i) => `call_${i}`, ...options });
  parser.push(text);
  return parser.finish();
}

function call(name: string, params: [string, string][]): string {
  const body = params.map(([k, v]) => `<parameter=${k}>${v}</parameter>\n`).join('');
  return `<tool_call>\n<function=${name}>\n${body}</function>\n</tool_call>`;
}

/** The arguments of the only call in `text` (a get_weather call unless said otherwise), parsed. */
function args(params: [string, string][], name = 'get_weather'): unknown {
  const result = parse(call(name, params));
  assert.equal(result.toolCalls.length, 1);
  return JSON.parse(result.toolCalls[0].function.arguments);
}

describe('reasoning', () => {
  it('startsInThinking: text up to </think> is reasoning, whitespace after it is dropped', () => {
    const r = parse('Think.\n</think>\n\nAnswer.\n', { startsInThinking: true });
    assert.deepEqual(r, { content: 'Answer.\n', reasoningContent: 'Think.\n', toolCalls: [], finishedInThinking: false });
  });

  it('text that ends inside thinking: finishedInThinking, content is the empty string', () => {
    const r = parse('Still thinking', { startsInThinking: true });
    assert.deepEqual(r, { content: '', reasoningContent: 'Still thinking', toolCalls: [], finishedInThinking: true });
  });

  it('no thinking: a <think> at the start (after whitespace) opens reasoning; elsewhere it is text', () => {
    assert.deepEqual(parse(' \n<think>r</think>c'), { content: 'c', reasoningContent: 'r', toolCalls: [], finishedInThinking: false });
    assert.equal(parse('a <think>b</think>').content, 'a <think>b</think>');
    assert.equal(parse('x</think>y').content, 'x</think>y');
  });

  it('without thinking, content keeps its leading whitespace', () => {
    assert.equal(parse('\n\nHello').content, '\n\nHello');
  });
});

describe('tool calls', () => {
  it('one call after content: content before it, typed arguments in order, id from the generator', () => {
    const r = parse(`Let me check.\n\n${call('get_weather', [['city', 'Beijing'], ['days', '3'], ['metric', 'true']])}\n`);
    assert.equal(r.content, 'Let me check.');
    assert.deepEqual(r.toolCalls, [
      { id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Beijing","days":3,"metric":true}' } },
    ]);
  });

  it('two calls back to back and a call with no parameters; whitespace between and after is not content', () => {
    const r = parse(`\n${call('get_time', [])}\n\n${call('get_weather', [['city', 'Oslo']])}\n`);
    assert.equal(r.content, '');
    assert.deepEqual(r.toolCalls.map((t) => [t.id, t.function.name, t.function.arguments]), [
      ['call_0', 'get_time', '{}'],
      ['call_1', 'get_weather', '{"city":"Oslo"}'],
    ]);
  });

  it('text after a call is content, with the whitespace that separates it', () => {
    assert.equal(parse(`A.\n${call('get_time', [])}\nB.`).content, 'A.\nB.');
  });

  it('exactly one leading and one trailing newline of a value are stripped', () => {
    assert.deepEqual(args([['city', '\nParis\n']]), { city: 'Paris' });
    assert.deepEqual(args([['city', '\n\n  two\nlines  \n\n']]), { city: '\n  two\nlines  \n' });
    assert.deepEqual(args([['city', '&#10;x&#10;']]), { city: '\nx\n' }, 'encoded newlines are kept');
  });

  it('XML entities in values are decoded once', () => {
    assert.deepEqual(args([['city', 'a &lt; b &gt; c &amp; &quot;d&quot; &apos;e&apos; &#65;&#x42; &amp;lt; &nbsp; & x']]), {
      city: 'a < b > c & "d" \'e\' AB &lt; &nbsp; & x',
    });
  });

  it('a value with the text "null" or "123" stays a string under a string schema; a nullable type gives null', () => {
    assert.deepEqual(args([['city', 'null'], ['note', 'null'], ['limit', 'null']]), { city: 'null', note: null, limit: null });
    assert.deepEqual(args([['city', '123']]), { city: '123' });
  });

  it('numbers and booleans are typed by the schema; text that does not parse stays a string', () => {
    assert.deepEqual(args([['days', ' 7 '], ['ratio', '-2.5e1'], ['metric', 'False']]), { days: 7, ratio: -25, metric: false });
    assert.deepEqual(args([['days', 'three'], ['ratio', '1.2.3'], ['metric', 'yes']]), { days: 'three', ratio: '1.2.3', metric: 'yes' });
    assert.deepEqual(args([['days', '3.5']]), { days: '3.5' }, 'not an integer');
    const big = parse(call('get_weather', [['days', '12345678901234567890123']])).toolCalls[0].function.arguments;
    assert.equal(big, '{"days":12345678901234567890123}', 'integers stay exact');
  });

  it('object and array parameters are parsed as JSON, nested values included', () => {
    assert.deepEqual(args([['opts', '\n{"unit": "c", "extra": {"a": [1, {"b": null}]}}\n'], ['hours', '[1, [2, 3], "x"]']]), {
      opts: { unit: 'c', extra: { a: [1, { b: null }] } },
      hours: [1, [2, 3], 'x'],
    });
    assert.deepEqual(args([['opts', '[1]'], ['hours', "{'a': 1}"]]), { opts: '[1]', hours: "{'a': 1}" }, 'wrong kind or not JSON');
  });

  it('an unknown tool (kept with unknownTools: call), an unknown parameter and a tool without parameters keep string values', () => {
    const r = parse(call('search', [['q', 'mimo'], ['n', '5']]), { unknownTools: 'call' });
    assert.deepEqual(r.toolCalls, [{ id: 'call_0', type: 'function', function: { name: 'search', arguments: '{"q":"mimo","n":"5"}' } }]);
    assert.deepEqual(args([['zone', '8']]), { zone: '8' });
    assert.deepEqual(args([['x', '1']], 'get_time'), { x: '1' });
  });

  it('parses calls with no tools given at all', () => {
    const parser = new MiMoOutputParser({ startsInThinking: false });
    parser.push(call('f', [['a', '1']]));
    const r = parser.finish();
    assert.match(r.toolCalls[0].id, /^call_[0-9a-f]{24}$/);
    assert.equal(r.toolCalls[0].function.arguments, '{"a":"1"}');
  });

  it('a value may hold tag text: up to the first </parameter>', () => {
    assert.deepEqual(args([['city', '<tool_call></think><function=x>']]), { city: '<tool_call></think><function=x>' });
  });
});

describe('malformed and unfinished calls are text', () => {
  const cases: [string, string][] = [
    ['truncated after the function name', 'Hi <tool_call>\n<function=get_weather>\n'],
    ['text where <function= should be', 'Hi <tool_call> is the tag'],
    ['text where <parameter= or </function> should be', 'Hi <tool_call>\n<function=get_time>\nnow\n</function>\n</tool_call>'],
    ['a tool that was not offered (tools offered)', 'Hi <tool_call>\n<function=search>\n<parameter=q>x</parameter>\n</function>\n</tool_call>'],
    ['template text as the name', 'Hi <tool_call>\n<function={{ tc.name }}>\n</function>\n</tool_call>'],
    ['a name with a newline', 'Hi <tool_call>\n<function=get\n_time>\n</function>\n</tool_call>'],
    ['an empty name', 'Hi <tool_call>\n<function=>\n</function>\n</tool_call>'],
  ];
  for (const [name, text] of cases) {
    it(name, () => assert.deepEqual(parse(text), { content: text, reasoningContent: '', toolCalls: [], finishedInThinking: false }));
  }

  it('once <function=NAME> is followed by <parameter= the call is read: cut off, it keeps the ended parameters', () => {
    const cut = parse('Hi <tool_call>\n<function=get_weather>\n<parameter=city>Pa</parameter>\n<parameter=days>1');
    assert.deepEqual(cut.toolCalls.map((t) => t.function.arguments), ['{"city":"Pa"}'], 'the cut value of days is left out');
    assert.equal(cut.content, 'Hi');
    assert.equal(parse('Hi <tool_call>\n<function=get_weather>\n<parameter=city>Pa').toolCalls[0].function.arguments, '{}');
  });

  it('a missing </tool_call> after </function> still completes the call; the text after it is content', () => {
    const r = parse('Hi <tool_call>\n<function=get_time>\n</function>\nbye');
    assert.deepEqual(r.toolCalls.map((t) => t.function.name), ['get_time']);
    assert.equal(r.content, 'Hi\nbye');
  });

  it('a call after a malformed one is still found', () => {
    const r = parse(`<tool_call> oops ${call('get_time', [])}`);
    assert.equal(r.content, '<tool_call> oops');
    assert.equal(r.toolCalls.length, 1);
  });
});

describe('calls inside the reasoning', () => {
  const text = `I need the time.\n${call('get_time', [])}\nok</think>Done.`;
  it('default: a complete call in the reasoning is a tool call, removed from the reasoning', () => {
    const r = parse(text, { startsInThinking: true });
    assert.deepEqual(r, {
      content: 'Done.', reasoningContent: 'I need the time.\n\nok',
      toolCalls: [{ id: 'call_0', type: 'function', function: { name: 'get_time', arguments: '{}' } }], finishedInThinking: false,
    });
  });
  it('toolCallsInThinking false: it stays reasoning text', () => {
    const r = parse(text, { startsInThinking: true, toolCallsInThinking: false });
    assert.equal(r.reasoningContent, `I need the time.\n${call('get_time', [])}\nok`);
    assert.deepEqual(r.toolCalls, []);
  });
});

describe('streaming', () => {
  it('the first delta comes with <function=NAME> and the first <parameter=, one arguments piece per parameter, then the closing brace', () => {
    const parser = new MiMoOutputParser({ tools: TOOLS, startsInThinking: false, toolCallId: (i) => `id${i}` });
    assert.deepEqual(parser.push('Sure.\n<tool'), { content: 'Sure.' });
    assert.deepEqual(parser.push('_call>\n<function=get_weather'), {});
    assert.deepEqual(parser.push('>\n<parameter=city>Rome</param'), {
      toolCallDeltas: [{ index: 0, id: 'id0', type: 'function', function: { name: 'get_weather', arguments: '' } }],
    });
    assert.deepEqual(parser.push('eter>\n<parameter=days>2</parameter>\n'), {
      toolCallDeltas: [{ index: 0, function: { arguments: '{"city":"Rome"' } }],
    }, 'the last </parameter> is decided only by what follows it');
    assert.deepEqual(parser.push('</function>\n</tool_call>\n'), { toolCallDeltas: [{ index: 0, function: { arguments: ',"days":2}' } }] });
    assert.deepEqual(parser.flush(), {});
    assert.equal(parser.finish().toolCalls[0].function.arguments, '{"city":"Rome","days":2}');
  });

  it('held-back text that never becomes a tag is released by flush', () => {
    const parser = new MiMoOutputParser({ startsInThinking: true });
    assert.deepEqual(parser.push('a </thi'), { reasoningContent: 'a ' });
    assert.deepEqual(parser.flush(), { reasoningContent: '</thi' });
    assert.equal(parser.finish().finishedInThinking, true);
    assert.throws(() => parser.push('x'), /after flush/);
  });
});

/** Every delta of pushing `chunks` and flushing, concatenated: content, reasoning and each call's arguments. */
function streamed(parser: MiMoOutputParser, chunks: string[]): { content: string; reasoning: string; args: string[] } {
  const out = { content: '', reasoning: '', args: [] as string[] };
  const add = (d: ParserDelta) => {
    out.content += d.content ?? '';
    out.reasoning += d.reasoningContent ?? '';
    for (const c of d.toolCallDeltas ?? []) out.args[c.index] = (out.args[c.index] ?? '') + (c.function.arguments ?? '');
  };
  for (const c of chunks) add(parser.push(c));
  add(parser.flush());
  return out;
}

describe('toolCalls: false (the request offered no tools)', () => {
  const weather = call('get_weather', [['city', 'Oslo']]);
  it('a <tool_call> block in the content is content text, whitespace and all', () => {
    const text = `Let me check.\n${weather}\nDone.`;
    assert.deepEqual(parse(text, { toolCalls: false }), { content: text, reasoningContent: '', toolCalls: [], finishedInThinking: false });
  });
  it('a <tool_call> block in the reasoning is reasoning text; </think> still ends the reasoning', () => {
    const r = parse(`Hmm.\n${weather}</think>\n${weather}`, { startsInThinking: true, toolCalls: false });
    assert.deepEqual(r, { content: weather, reasoningContent: `Hmm.\n${weather}`, toolCalls: [], finishedInThinking: false });
  });
  it('streamed in pieces, the deltas rebuild the same text and hold no tool-call deltas', () => {
    const text = `A <tool_call> B\n${weather}\n`;
    const parser = new MiMoOutputParser({ startsInThinking: false, toolCalls: false });
    const s = streamed(parser, [...text]);
    assert.deepEqual(s, { content: text, reasoning: '', args: [] });
    assert.equal(parser.finish().content, text);
  });
});

describe('forcedToolCall: the caller forced the first call (tool_choice)', () => {
  const forced = (chunks: string[]) => {
    const parser = new MiMoOutputParser({ tools: TOOLS, startsInThinking: false, forcedToolCall: true, toolCallId: (i) => `call_${i}` });
    const deltas = chunks.map((c) => parser.push(c));
    deltas.push(parser.flush());
    return { deltas, result: parser.finish() };
  };
  it('the call is streamed as soon as its name is read', () => {
    const { deltas, result } = forced(['<tool_call>\n<function=get_weather>\n', '<parameter=city>Oslo</parameter>\n</function>\n</tool_call>']);
    assert.deepEqual(deltas[0], { toolCallDeltas: [{ index: 0, id: 'call_0', type: 'function', function: { name: 'get_weather', arguments: '' } }] });
    assert.equal(result.toolCalls[0].function.arguments, '{"city":"Oslo"}');
  });
  it('text where a parameter should be ends the call (no arguments) and is content; later calls are read as usual', () => {
    const { result } = forced(['<tool_call>\n<function=get_weather>\n', 'Sorry. <tool_call>\n<function=nope>\n</function>\n</tool_call>']);
    assert.deepEqual(result.toolCalls.map((t) => [t.function.name, t.function.arguments]), [['get_weather', '{}']]);
    assert.equal(result.content, 'Sorry. <tool_call>\n<function=nope>\n</function>\n</tool_call>');
  });
  it('without the option the same text is no call', () => {
    assert.deepEqual(parse('<tool_call>\n<function=get_weather>\nSorry.').toolCalls, []);
  });
});

describe('a parameter name written twice in one call', () => {
  const text = call('get_weather', [['city', 'Paris'], ['days', '3'], ['city', 'Rome']]);
  it('the result keeps the name once, at its first place, with the last value (as JSON.parse reads it)', () => {
    const r = parse(text);
    assert.equal(r.toolCalls[0].function.arguments, '{"city":"Rome","days":3}');
    assert.deepEqual(JSON.parse(r.toolCalls[0].function.arguments), JSON.parse('{"city":"Paris","days":3,"city":"Rome"}'));
  });
  it('the stream cannot take the first value back: it has every occurrence, and parses to the same object', () => {
    for (const chunks of [[text], [...text]]) {
      const parser = new MiMoOutputParser({ tools: TOOLS, startsInThinking: false, toolCallId: (i) => `call_${i}` });
      const s = streamed(parser, chunks);
      assert.equal(s.args[0], '{"city":"Paris","days":3,"city":"Rome"}');
      assert.deepEqual(JSON.parse(s.args[0]), JSON.parse(parser.finish().toolCalls[0].function.arguments));
    }
  });
  it('a call without repeats keeps its streamed text exactly', () => {
    assert.equal(parse(call('get_weather', [['days', '3'], ['city', 'Rome']])).toolCalls[0].function.arguments, '{"days":3,"city":"Rome"}');
  });
});

describe('options are checked', () => {
  const refused = (options: unknown, param: string, pattern: RegExp) => {
    assert.throws(
      () => new MiMoOutputParser(options as MiMoOutputParserOptions),
      (e: unknown) => e instanceof RequestError && e.param === param && pattern.test(e.message),
      `${JSON.stringify(options)} → ${param}`,
    );
  };
  it('no options, or not an object → options', () => {
    refused(undefined, 'options', /options object/);
    refused(null, 'options', /got null/);
    refused([], 'options', /got an array/);
    refused('x', 'options', /got string/);
  });
  it('tools that are not an array → tools', () => {
    refused({ startsInThinking: false, tools: 5 }, 'tools', /must be an array.*got number/);
    refused({ startsInThinking: false, tools: { type: 'function' } }, 'tools', /got object/);
  });
  it('startsInThinking missing or not a boolean → startsInThinking', () => {
    refused({}, 'startsInThinking', /must be a boolean.*got undefined/);
    refused({ startsInThinking: 'yes' }, 'startsInThinking', /got string/);
  });
  it('an unknown key → that key; switches and the id function must have their types', () => {
    refused({ startsInThinking: false, tool_calls: false }, 'tool_calls', /unknown MiMoOutputParser option 'tool_calls'.*toolCalls/);
    refused({ startsInThinking: false, toolCalls: 'no' }, 'toolCalls', /must be a boolean/);
    refused({ startsInThinking: false, toolCallsInThinking: 1 }, 'toolCallsInThinking', /must be a boolean/);
    refused({ startsInThinking: false, toolCallId: 'call_1' }, 'toolCallId', /must be a function/);
    refused({ startsInThinking: false, forcedToolCall: 'yes' }, 'forcedToolCall', /must be a boolean/);
    refused({ startsInThinking: false, unknownTools: 'drop' }, 'unknownTools', /must be 'text', 'call' or undefined, got "drop"/);
  });
  it('optional options may be undefined; tools may be null', () => {
    const p = new MiMoOutputParser({ startsInThinking: false, tools: null, toolCalls: undefined, toolCallsInThinking: undefined, toolCallId: undefined });
    p.push(call('f', [['a', '1']]));
    assert.equal(p.finish().toolCalls[0].function.arguments, '{"a":"1"}');
  });
});
