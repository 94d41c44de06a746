/**
 * Checkpoint.readStoredRows (what `mimo quantize` reads a large embedding with, a chunk of rows at a time): the rows
 * of a F32 / BF16 / F16 weight equal those of the whole tensor read at once; FP8 (block scales span rows) gives null;
 * rows outside the tensor are an error naming it.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { test } from 'node:test';
import { Checkpoint, SINGLE_FILE } from '../../src/loader/checkpoint.js';
import { writeSafetensors } from '../../src/loader/safetensors.js';

test('readStoredRows: the rows of the whole weight, read alone; null for FP8; rows outside the tensor refused', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-rows-'));
  try {
    const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0x7f);
    writeSafetensors(path.join(dir, SINGLE_FILE), [
      { name: 'a.weight', dtype: 'BF16', shape: [6, 8], bytes: () => bytes(6 * 8 * 2, 1) },
      { name: 'b.weight', dtype: 'F32', shape: [5, 3], bytes: () => new Uint8Array(Float32Array.from({ length: 15 }, (_, i) => i * 0.5 - 3).buffer) },
      { name: 'c.weight', dtype: 'F16', shape: [4, 4], bytes: () => bytes(4 * 4 * 2, 3) },
      { name: 'd.weight', dtype: 'F8_E4M3', shape: [4, 4], bytes: () => bytes(16, 5) },
    ]);
    const ck = new Checkpoint(dir);
    for (const [name, R, C] of [['a.weight', 6, 8], ['b.weight', 5, 3], ['c.weight', 4, 4]] as const) {
      const whole = ck.readStoredWeight(name, [R, C], null);
      for (const [r0, n] of [[0, 1], [1, 2], [R - 1, 1], [0, R]] as const) {
        const part = ck.readStoredRows(name, [R, C], r0, n)!;
        assert.equal(part.dtype, whole.dtype, name);
        assert.deepEqual([part.rows, part.cols], [n, C]);
        assert.deepEqual(Array.from(part.data), Array.from(whole.data.subarray(r0 * C, (r0 + n) * C)), `${name} rows [${r0}, ${r0 + n})`);
      }
    }
    assert.equal(ck.readStoredRows('d.weight', [4, 4], 0, 2), null);
    assert.throws(() => ck.readStoredRows('a.weight', [6, 8], 5, 2), /a\.weight: rows \[5, 7\) lie outside its 6 rows/);
    assert.throws(() => ck.readStoredRows('a.weight', [6, 9], 0, 1), /tensor a\.weight has shape \[6, 8\], expected \[6, 9\]/);
    ck.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
