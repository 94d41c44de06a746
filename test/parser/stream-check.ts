/**
 * Shared by the parser tests: run MiMoOutputParser over chunks, collect every streamed delta, and check that the
 * concatenated deltas rebuild finish()'s result — content, reasoning, and per call index id, name and arguments (a
 * call that repeats a parameter name streams every occurrence; its result text is that JSON with the name once).
 */
import assert from 'node:assert/strict';
import { MiMoOutputParser, type MiMoOutputParserOptions } from '../../src/parser/mimo-output-parser.js';
import type { ParseResult, ParserDelta } from '../../src/parser/types.js';

/** Everything the stream said, concatenated; per call index: id, name and arguments. */
export interface Stream {
  content: string;
  reasoning: string;
  calls: Map<number, { id?: string; name: string; arguments: string }>;
}

function collect(stream: Stream, delta: ParserDelta): void {
  stream.content += delta.content ?? '';
  stream.reasoning += delta.reasoningContent ?? '';
  for (const d of delta.toolCallDeltas ?? []) {
    const call = stream.calls.get(d.index) ?? { name: '', arguments: '' };
    if (d.id !== undefined) {
      assert.equal(call.id, undefined, `index ${d.index} got a second id`);
      call.id = d.id;
    }
    call.name += d.function.name ?? '';
    call.arguments += d.function.arguments ?? '';
    stream.calls.set(d.index, call);
  }
}

/** Pushes `chunks` into a new parser (ids `call_0`, `call_1`, …), flushes, and returns the result and the stream. */
export function parseChunks(options: Omit<MiMoOutputParserOptions, 'toolCallId'>, chunks: readonly string[]): { result: ParseResult; stream: Stream } {
  const parser = new MiMoOutputParser({ ...options, toolCallId: (i) => `call_${i}` });
  const stream: Stream = { content: '', reasoning: '', calls: new Map() };
  for (const chunk of chunks) collect(stream, parser.push(chunk));
  collect(stream, parser.flush());
  return { result: parser.finish(), stream };
}

/** Asserts that the stream rebuilds the result; every streamed call is in the result (none is dropped). */
export function checkStream({ result, stream }: { result: ParseResult; stream: Stream }, label: string): void {
  assert.equal(stream.content, result.content, `${label}: streamed content`);
  assert.equal(stream.reasoning, result.reasoningContent, `${label}: streamed reasoning`);
  const complete = result.toolCalls.map((t) => ({ id: t.id, name: t.function.name, arguments: t.function.arguments }));
  const streamed = [...stream.calls.entries()].sort((a, b) => a[0] - b[0]).map(([, call]) => {
    const done = complete.find((r) => r.id === call.id);
    if (done === undefined || done.arguments === call.arguments) return call;
    // A repeated parameter name: the stream has every occurrence; the result the same JSON with each name once.
    assert.ok(call.arguments.length > done.arguments.length, `${label}: ${call.arguments} vs ${done.arguments}`);
    assert.equal(JSON.stringify(JSON.parse(call.arguments)), done.arguments, `${label}: streamed arguments parse to the result's`);
    return { ...call, arguments: done.arguments };
  });
  assert.deepEqual(streamed, complete, `${label}: streamed tool calls`);
}
