/**
 * The seam between a checkpoint on disk and the model's weight loader: tensors by their logical names (the
 * official Hugging Face names, `model.layers.3.self_attn.q_proj.weight`), whatever the file format. A safetensors
 * directory ({@link Checkpoint}) and a GGUF file ({@link GgufCheckpoint}) each map their own names onto these.
 */
import type { Weight } from '../kernels/backend.js';
import type { F32Tensor } from './checkpoint.js';

export interface TensorSource {
  /** Path for error messages (directory or file). */
  readonly dir: string;
  /** Every logical tensor name the source holds. */
  names(): string[];
  /** A 1-D or N-D tensor decoded to float32, checked against `expectedShape`; marks it used. */
  readF32(name: string, expectedShape?: readonly number[]): F32Tensor;
  /** A 2-D weight `[rows, cols]` in its stored dtype (see Checkpoint.readStoredWeight); marks it used. */
  readStoredWeight(name: string, expectedShape: readonly [number, number], blockSize: readonly [number, number] | null, chunks?: readonly number[]): Weight;
  /** Rows [r0, r0 + n) of a plain-dtype (F32/BF16/F16) weight without the rest (Checkpoint.readStoredRows); null when the source cannot. */
  readStoredRows?(name: string, expectedShape: readonly [number, number], r0: number, n: number): Weight | null;
  /** A routed expert's MXFP4 weight (MiMo-V2.6 safetensors layout). */
  readMxfp4Weight(name: string, expectedShape: readonly [number, number]): Weight;
  /** Text-model tensors never read. */
  unusedTextTensors(): string[];
  /** Tensors of other modalities, skipped. */
  skippedTensors(): string[];
}
