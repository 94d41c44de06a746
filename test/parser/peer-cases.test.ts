/**
 * The peer-case suite (peer-cases.ts): every case whole, one character per push, in every two-chunk split, and in
 * the peer's own chunks; each gives the same finish() result, the concatenated stream deltas rebuild it, and the
 * whole-text result is the case's expectation (content, reasoning, calls with their arguments as JSON text).
 * Cases where our result differs from the peer's assertion carry the peer's expectation and the reason.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ParseResult } from '../../src/parser/types.js';
import { PEER_CASES, type PeerCase } from './peer-cases.js';
import { PEER_TOOLS } from './peer-tools.js';
import { checkStream, parseChunks } from './stream-check.js';

function run(c: PeerCase, chunks: readonly string[]): ReturnType<typeof parseChunks> {
  const tools = PEER_TOOLS[c.tools];
  return parseChunks({ tools, startsInThinking: c.startsInThinking ?? false, unknownTools: c.unknownTools }, chunks);
}

function checkExpectation(c: PeerCase, result: ParseResult): void {
  assert.equal(result.content, c.expect.content, 'content');
  assert.equal(result.reasoningContent, c.expect.reasoning ?? '', 'reasoning');
  assert.equal(result.finishedInThinking, c.expect.finishedInThinking ?? false, 'finishedInThinking');
  const calls = result.toolCalls.map((t) => ({ name: t.function.name, arguments: t.function.arguments }));
  assert.deepEqual(calls, c.expect.calls.map((e) => ({ name: e.name, arguments: JSON.stringify(e.arguments) })), 'tool calls');
}

describe('peer cases (vLLM and SGLang parser tests as data)', () => {
  for (const c of PEER_CASES) {
    it(c.name, () => {
      const whole = run(c, [c.text]);
      checkExpectation(c, whole.result);
      checkStream(whole, 'whole');
      const splits: [string, string[]][] = [['one character per push', [...c.text]]];
      if (c.chunks !== undefined) {
        assert.equal(c.chunks.join(''), c.text, 'the peer chunks rebuild the text');
        splits.push(['peer chunks', c.chunks]);
      }
      for (let cut = 1; cut < c.text.length; cut++) splits.push([`split at ${cut}`, [c.text.slice(0, cut), c.text.slice(cut)]]);
      for (const [label, chunks] of splits) {
        const split = run(c, chunks);
        assert.deepEqual(split.result, whole.result, label);
        checkStream(split, label);
      }
    });
  }
});

describe('the peer-case table', () => {
  it('names each case\'s public source, and gives a reason wherever it differs from the peer', () => {
    const names = new Set<string>();
    for (const c of PEER_CASES) {
      assert.ok(!names.has(c.name), `duplicate case name ${c.name}`);
      names.add(c.name);
      assert.ok(c.sources.length > 0, `${c.name}: no source`);
      for (const source of c.sources) assert.ok(source.file !== '' && source.test !== '', `${c.name}: incomplete source`);
      if (c.differs !== undefined) assert.ok(c.differs.peerExpects !== '' && c.differs.reason.length > 20, `${c.name}: differs without a reason`);
    }
  });

  it('covers at least 117 peer tests, both peers, tools and reasoning, and cut-off calls', () => {
    const tests = new Set(PEER_CASES.flatMap((c) => c.sources.filter((s) => s.repo !== 'issue 13').map((s) => `${s.repo} ${s.file} ${s.test}`)));
    assert.ok(tests.size >= 117, `only ${tests.size} distinct peer tests`);
    assert.ok(PEER_CASES.some((c) => c.sources.some((s) => s.repo === 'vllm-project/vllm')));
    assert.ok(PEER_CASES.some((c) => c.sources.some((s) => s.repo === 'sgl-project/sglang')));
    assert.ok(PEER_CASES.filter((c) => c.startsInThinking === true).length >= 10);
    assert.ok(PEER_CASES.filter((c) => c.differs !== undefined).length >= 10);
  });
});
