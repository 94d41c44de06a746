/**
 * `mimo inspect --verify`: read every byte of every text tensor of a checkpoint and report values no valid checkpoint
 * holds — E8M0 scale byte 255 (NaN) in an MXFP4 `weight_scale`, FP8 NaN codes (0x7F / 0xFF, never written by the
 * release's quantiser), NaN or ±Infinity in F32 / BF16 / F16 tensors. Loading never does this (a real checkpoint is
 * hundreds of GB); the engine checks MXFP4 scales when a weight is first used instead.
 * Source: spec §2.5 (FP8 NaN codes), §2.8 (E8M0 255 never occurs).
 */
import type { Checkpoint } from '../../loader/checkpoint.js';
import { isTextTensor } from '../../loader/checkpoint.js';

/** One problem found by {@link verifyCheckpoint}. */
export interface VerifyProblem {
  tensor: string;
  file: string;
  /** What was found, with the first flat element index. */
  detail: string;
}

export interface VerifyResult {
  tensors: number;
  bytes: number;
  problems: VerifyProblem[];
}

/** First index i with bad(view[i]), or −1. */
function firstBad<T extends ArrayLike<number>>(view: T, bad: (v: number) => boolean): number {
  for (let i = 0; i < view.length; i++) if (bad(view[i]!)) return i;
  return -1;
}

/**
 * Read every text tensor of `ckpt` once and check its values (see the module comment).
 * @param onProgress called after each tensor with bytes read so far and in total
 */
export function verifyCheckpoint(ckpt: Checkpoint, onProgress?: (done: number, total: number) => void): VerifyResult {
  const names = ckpt.names().filter(isTextTensor);
  const total = names.reduce((s, n) => s + ckpt.info(n)!.sizeBytes, 0);
  const problems: VerifyProblem[] = [];
  let done = 0;
  for (const name of names) {
    const info = ckpt.info(name)!;
    const bytes = ckpt.tensorBytes(name);
    let at = -1;
    let what = '';
    switch (info.rawDtype) {
      case 'U8':
        if (name.endsWith('.weight_scale')) {
          at = bytes.indexOf(255);
          what = 'E8M0 scale byte 255 (NaN)';
        }
        break;
      case 'F8_E4M3':
        at = firstBad(bytes, (b) => (b & 0x7f) === 0x7f);
        what = 'FP8 NaN code (0x7F/0xFF)';
        break;
      case 'F32': {
        const f = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        at = firstBad(f, (v) => !Number.isFinite(v));
        what = 'a NaN or infinite F32 value';
        break;
      }
      case 'BF16':
      case 'F16': {
        const u = new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        const expMask = info.rawDtype === 'BF16' ? 0x7f80 : 0x7c00;
        at = firstBad(u, (h) => (h & expMask) === expMask);
        what = `a NaN or infinite ${info.rawDtype} value`;
        break;
      }
      default:
        break;
    }
    if (at >= 0) problems.push({ tensor: name, file: ckpt.fileOf(name), detail: `${what} at element ${at}` });
    done += info.sizeBytes;
    onProgress?.(done, total);
  }
  return { tensors: names.length, bytes: total, problems };
}
