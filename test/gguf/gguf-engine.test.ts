/**
 * The library and the CLI on a GGUF: MiMoEngine.load(FILE.gguf) generates from token ids like the safetensors
 * checkpoint it was converted from; text prompts on the anchor's placeholder tokenizer get an error saying why;
 * `mimo inspect` prints the tensors per ggml type.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, test } from 'node:test';
import { MiMoEngine } from '../../src/engine/engine.js';
import { RequestError } from '../../src/errors.js';
import { discoverCases, repoRoot } from '../helpers/fixtures.js';

const anchor = path.resolve(repoRoot, '..', 'shared', 'tools', 'llamacpp-anchor');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-engine-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const caseDir = discoverCases().find((d) => path.basename(d) === 'tied_grouped') ?? discoverCases()[0]!;
const gguf = path.join(tmp, 'model-q8_0.gguf');
execFileSync('python3', [path.join(anchor, 'hf_to_gguf.py'), caseDir, gguf, '--type', 'q8_0', '-q'], { stdio: ['ignore', 'ignore', 'pipe'] });

test('MiMoEngine.load(FILE.gguf): greedy from promptIds; text prompts refused with the reason', async () => {
  const engine = MiMoEngine.load(gguf, { backend: 'ts' });
  try {
    assert.equal(engine.tokenizer, null);
    const r = await engine.generate({ promptIds: [1, 2, 3, 4, 5] }, { temperature: 0, maxTokens: 4, stopTokenIds: [] });
    assert.equal(r.tokenIds.length, 4);
    await assert.rejects(engine.generate({ prompt: 'hello' }), (e: unknown) => e instanceof RequestError && /placeholder tokenizer \(token ids only\), so text prompts cannot be encoded; pass promptIds/.test((e as Error).message));
  } finally {
    engine.close();
  }
});

test('a directory holding one GGUF loads like the file', async () => {
  const dir = path.join(tmp, 'dir');
  fs.mkdirSync(dir);
  fs.copyFileSync(gguf, path.join(dir, 'model.gguf'));
  const a = MiMoEngine.load(gguf, { backend: 'ts' });
  const b = MiMoEngine.load(dir, { backend: 'ts' });
  const opts = { temperature: 0, maxTokens: 3, stopTokenIds: [] };
  assert.deepEqual((await b.generate({ promptIds: [7, 8, 9] }, opts)).tokenIds, (await a.generate({ promptIds: [7, 8, 9] }, opts)).tokenIds);
  a.close();
  b.close();
});

test('mimo inspect FILE.gguf: tensors per ggml type, defaults used, tokenizer state', () => {
  const out = execFileSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'inspect', '--model', gguf], { encoding: 'utf8' });
  assert.match(out, /tensors per type: .*Q8_0 \d+/);
  assert.match(out, /mimo2\.nextn_predict_layers = 0/);
  assert.match(out, /tokenizer: tokenizer\.ggml\.merges is empty: a placeholder tokenizer/);
  const json = JSON.parse(execFileSync(process.execPath, [path.join(repoRoot, 'dist', 'src', 'cli', 'main.js'), 'inspect', '--model', gguf, '--json'], { encoding: 'utf8' }));
  assert.ok(json);
});
