/**
 * StopMatcher: hold-back of possible stop-string prefixes, stop strings split across deltas, overlapping prefixes,
 * several stop strings, flush, validation; and a randomized comparison with the plain definition (the text before
 * the earliest stop-string occurrence).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestError } from '../../src/errors.js';
import { MAX_STOP_STRINGS, StopMatcher, validateStopStrings } from '../../src/engine/stop.js';
import { Rng } from '../../src/engine/rng.js';

/** Push each delta; return every emit (in order), the flushed tail and the final state. */
function run(stop: string[], deltas: string[]): { emits: string[]; tail: string; stopped: boolean; matched?: string } {
  const m = new StopMatcher(stop);
  const emits = deltas.map((d) => m.push(d).emit);
  return { emits, tail: m.flush(), stopped: m.stopped, matched: m.matched };
}

test('no stop strings: every delta passes through unchanged', () => {
  const r = run([], ['Hel', 'lo', '', ' world']);
  assert.deepEqual(r.emits, ['Hel', 'lo', '', ' world']);
  assert.equal(r.tail, '');
  assert.equal(r.stopped, false);
});

test('a stop string split across deltas is held back, then dropped with what follows it', () => {
  const r = run(['<|im_end|>'], ['Hello <|im', '_e', 'nd|> world', 'more']);
  assert.deepEqual(r.emits, ['Hello ', '', '', '']);
  assert.equal(r.stopped, true);
  assert.equal(r.matched, '<|im_end|>');
  assert.equal(r.tail, '');
});

test('a held-back prefix that does not complete is released', () => {
  const r = run(['<|im_end|>'], ['a <|im', '_x', ' b']);
  assert.deepEqual(r.emits, ['a ', '<|im_x', ' b']);
  assert.equal(r.stopped, false);
});

test('overlapping prefixes: stop "ab" in "aab", one character at a time and in one delta', () => {
  const perChar = run(['ab'], ['a', 'a', 'b', 'c']);
  assert.deepEqual(perChar.emits, ['', 'a', '', '']);
  assert.equal(perChar.stopped, true);
  assert.deepEqual(run(['ab'], ['aab']).emits, ['a']);
  const r = run(['aab'], ['a', 'a', 'a', 'b']); // "aaab": the first 'a' is released only when the match slides
  assert.deepEqual(r.emits, ['', '', 'a', '']);
  assert.equal(r.stopped, true);
});

test('text before the stop string in the same delta is emitted; text after it is not', () => {
  const r = run(['STOP'], ['abc STOP def']);
  assert.deepEqual(r.emits, ['abc ']);
  assert.equal(r.tail, '');
});

test('several stop strings: the earliest occurrence wins, whatever the list order', () => {
  const r = run(['world', 'lo w'], ['hel', 'lo world']);
  assert.deepEqual(r.emits, ['he', 'l']); // 'l' was held: it may start 'lo w'
  assert.equal(r.matched, 'lo w');
  const s = run(['\n\n', 'User:'], ['x\nUser:', ' y\n\n']);
  assert.deepEqual(s.emits, ['x\n', '']);
  assert.equal(s.matched, 'User:');
});

test('flush returns the held-back tail when the stream ends without a stop', () => {
  const m = new StopMatcher(['xyz', 'abcd']);
  assert.deepEqual(m.push('123xy'), { emit: '123', stopped: false });
  assert.deepEqual(m.push('!ab'), { emit: 'xy!', stopped: false });
  assert.equal(m.flush(), 'ab');
  assert.equal(m.flush(), '');
});

test('stop strings of non-ASCII text (surrogate pairs) are matched', () => {
  const r = run(['🛑 end'], ['go 🛑', ' e', 'nd now']);
  assert.deepEqual(r.emits, ['go ', '', '']);
  assert.equal(r.stopped, true);
});

test('randomized: emitted text + flush = text before the earliest stop (or all text); never ahead of the stream', () => {
  const rng = Rng.fromSeed(11);
  const pick = (s: string): string => s[Math.floor(rng.next() * s.length)]!;
  for (let trial = 0; trial < 500; trial++) {
    const stops = Array.from({ length: 1 + Math.floor(rng.next() * 3) }, () =>
      Array.from({ length: 1 + Math.floor(rng.next() * 4) }, () => pick('abc')).join(''),
    );
    const text = Array.from({ length: Math.floor(rng.next() * 30) }, () => pick('abcd')).join('');
    const firstAt = Math.min(...stops.map((s) => text.indexOf(s)).filter((i) => i >= 0));
    const expected = Number.isFinite(firstAt) ? text.slice(0, firstAt) : text;
    const m = new StopMatcher(stops);
    let out = '';
    let consumed = 0;
    while (consumed < text.length) {
      const len = Math.floor(rng.next() * 5);
      const { emit } = m.push(text.slice(consumed, consumed + len));
      consumed += len;
      out += emit;
      assert.ok(text.slice(0, consumed).startsWith(out));
      assert.ok(expected.startsWith(out), `stops ${JSON.stringify(stops)} text ${text}: emitted ${out}`);
    }
    out += m.flush();
    assert.equal(out, expected, `stops ${JSON.stringify(stops)} text ${text}`);
    assert.equal(m.stopped, Number.isFinite(firstAt));
  }
});

test('validation: empty strings, too many strings and non-strings are RequestErrors naming stop', () => {
  const isStopError = (e: unknown): boolean => e instanceof RequestError && e.param === 'stop' && /^stop: /.test(e.message);
  assert.throws(() => new StopMatcher(['']), isStopError);
  assert.throws(() => new StopMatcher(['a', '']), (e: unknown) => isStopError(e) && /stop\[1\]/.test((e as Error).message));
  const many = Array.from({ length: MAX_STOP_STRINGS + 1 }, (_, i) => `s${i}`);
  assert.throws(() => new StopMatcher(many), isStopError);
  assert.throws(() => new StopMatcher([1 as unknown as string]), isStopError);
  assert.throws(() => new StopMatcher(42), isStopError);
  assert.equal(new StopMatcher(many.slice(0, MAX_STOP_STRINGS)).stopStrings.length, MAX_STOP_STRINGS);
  assert.deepEqual(validateStopStrings('end'), ['end']);
  assert.deepEqual(validateStopStrings(undefined), []);
  assert.deepEqual(validateStopStrings(null), []);
});
