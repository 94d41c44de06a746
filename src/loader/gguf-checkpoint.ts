/**
 * A GGUF model as a {@link TensorSource}: tensors under their logical (official) names, resolved through a name map
 * built by the model module (model/mimo-v2/gguf.ts), in the stored type. F32 / F16 / BF16 tensors become f32 /
 * f16 / bf16 weights that view the file's bytes (GGUF rows are plain row-major matrices, so no copy); a block type
 * with a decoder (Q8_0 …) becomes a `ggml` weight for backends that take it, else it is dequantised to f32 here.
 * A stacked `*_exps` tensor `[E, R, C]` gives each expert a view of its R rows. Every read is recorded, so loading
 * can report tensors nobody used.
 */
import { CheckpointError } from '../errors.js';
import type { Weight } from '../kernels/backend.js';
import { dequantizeGgmlRow, ggmlRowBytes, ggmlTypeName, GGML_ROW_DECODERS, isGgmlTypeSupported } from '../tensor/formats/ggml/types.js';
import type { F32Tensor } from './checkpoint.js';
import type { GgufModelFiles, GgufTensorInfo } from './gguf.js';
import type { TensorSource } from './tensor-source.js';

/** A GGUF tensor (or one slice of the outermost dimension of a stacked tensor) behind a logical name. */
export interface GgufRef {
  gguf: string;
  expert?: number;
}

export interface GgufCheckpointOptions {
  /** Whether the backend takes `ggml` weights of this type as they are (default: none; they are dequantised to f32). */
  keepGgml?: (type: number) => boolean;
  /** Where to say that block-quantised tensors were dequantised at load (once per load). */
  onNote?: (message: string) => void;
}

const SUPPORTED = () => Object.keys(GGML_ROW_DECODERS).map((t) => ggmlTypeName(Number(t))).join(', ');

export class GgufCheckpoint implements TensorSource {
  readonly dir: string;
  private readonly used = new Set<string>();
  private readonly cache = new Map<string, Uint8Array>();
  private dequantised = { tensors: new Set<string>(), bytes: 0 };

  constructor(
    readonly files: GgufModelFiles,
    private readonly map: ReadonlyMap<string, GgufRef>,
    private readonly unmapped: readonly string[],
    private readonly opts: GgufCheckpointOptions = {},
  ) {
    this.dir = files.paths[0]!;
  }

  names(): string[] {
    return [...this.map.keys()];
  }

  has(name: string): boolean {
    return this.map.has(name);
  }

  /** The GGUF tensor behind a logical name, or undefined. */
  ggufInfo(name: string): GgufTensorInfo | undefined {
    const ref = this.map.get(name);
    return ref ? this.files.tensors.get(ref.gguf) : undefined;
  }

  private label(name: string, ref: GgufRef): string {
    return ref.expert === undefined ? `${ref.gguf} (${name})` : `${ref.gguf} expert ${ref.expert} (${name})`;
  }

  /** Resolve, check the shape (the slice's, for an expert), mark used; returns the tensor and its slice's bytes. */
  private resolve(name: string, expectedShape?: readonly number[]): { info: GgufTensorInfo; ref: GgufRef; bytes: () => Uint8Array; label: string } {
    const ref = this.map.get(name);
    if (!ref) {
      const want = expectedShape ? `; expected shape [${expectedShape.join(', ')}] from the GGUF metadata` : '';
      throw new CheckpointError(this.dir, `no tensor for ${name}${want}`);
    }
    const info = this.files.tensors.get(ref.gguf)!;
    const shape = ref.expert === undefined ? info.shape : info.shape.slice(1);
    const label = this.label(name, ref);
    if (expectedShape && (shape.length !== expectedShape.length || shape.some((d, i) => d !== expectedShape[i]))) {
      throw new CheckpointError(info.file, `tensor ${label} has shape [${shape.join(', ')}], expected [${expectedShape.join(', ')}] from the GGUF metadata`);
    }
    this.used.add(name);
    const bytes = (): Uint8Array => {
      let all = this.cache.get(ref.gguf);
      if (!all) {
        all = this.files.view(ref.gguf);
        if (info.shape.length === 3) this.cache.set(ref.gguf, all); // stacked experts: read once, sliced E times
      }
      if (ref.expert === undefined) return all;
      const per = info.sizeBytes / info.shape[0]!;
      return all.subarray(ref.expert * per, (ref.expert + 1) * per);
    };
    return { info, ref, bytes, label };
  }

  readF32(name: string, expectedShape?: readonly number[]): F32Tensor {
    const { info, ref, bytes, label } = this.resolve(name, expectedShape);
    const shape = ref.expert === undefined ? info.shape.slice() : info.shape.slice(1);
    if (!isGgmlTypeSupported(info.type)) throw new CheckpointError(info.file, `tensor ${label} has type ${ggmlTypeName(info.type)}, which mimo.ts cannot decode (supported: ${SUPPORTED()})`);
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    try {
      dequantizeGgmlRow(info.type, bytes(), n, out);
    } catch (e) {
      throw new CheckpointError(info.file, `tensor ${label}: ${(e as Error).message}`);
    }
    return { shape, data: out };
  }

  readStoredWeight(name: string, expectedShape: readonly [number, number]): Weight {
    const { info, bytes, label } = this.resolve(name, expectedShape);
    const [R, C] = expectedShape;
    const file = info.file;
    const b = bytes();
    const typed = <T extends Float32Array | Uint16Array>(Ctor: { new (buf: ArrayBufferLike, off: number, n: number): T; new (n: number): T; BYTES_PER_ELEMENT: number }): T => {
      const n = b.byteLength / Ctor.BYTES_PER_ELEMENT;
      if (b.byteOffset % Ctor.BYTES_PER_ELEMENT === 0) return new Ctor(b.buffer, b.byteOffset, n);
      const copy = new Ctor(n);
      new Uint8Array(copy.buffer).set(b);
      return copy;
    };
    switch (ggmlTypeName(info.type)) {
      case 'F32':
        return { rows: R, cols: C, dtype: 'f32', data: typed(Float32Array), name: label, file };
      case 'F16':
        return { rows: R, cols: C, dtype: 'f16', data: typed(Uint16Array), name: label, file };
      case 'BF16':
        return { rows: R, cols: C, dtype: 'bf16', data: typed(Uint16Array), name: label, file };
    }
    if (!isGgmlTypeSupported(info.type)) {
      throw new CheckpointError(file, `tensor ${label} has type ${ggmlTypeName(info.type)}, which mimo.ts cannot run (supported: ${SUPPORTED()})`);
    }
    const w: Weight = { rows: R, cols: C, dtype: 'ggml', ggmlType: info.type, data: b, name: label, file };
    if (this.opts.keepGgml?.(info.type)) return w;
    // No kernel for this block type on the backend: dequantise to f32 now (exactly the reference values).
    const out = new Float32Array(R * C);
    const rb = ggmlRowBytes(info.type, C);
    for (let r = 0; r < R; r++) dequantizeGgmlRow(info.type, b.subarray(r * rb, (r + 1) * rb), C, out, r * C);
    this.dequantised.tensors.add(info.name);
    this.dequantised.bytes += out.byteLength;
    return { rows: R, cols: C, dtype: 'f32', data: out, name: label, file };
  }

  readMxfp4Weight(name: string): Weight {
    throw new CheckpointError(this.dir, `${name}: a GGUF stores MXFP4 experts as ggml type MXFP4, not as U8 + weight_scale`);
  }

  unusedTextTensors(): string[] {
    return [...this.names().filter((n) => !this.used.has(n)), ...this.unmapped];
  }

  skippedTensors(): string[] {
    return [];
  }

  /** Tell `onNote` how many block-quantised tensors were dequantised to f32 (call once, after loading). */
  reportDequantised(backendName: string): void {
    const d = this.dequantised;
    if (d.tensors.size === 0 || !this.opts.onNote) return;
    const types = [...new Set([...d.tensors].map((n) => ggmlTypeName(this.files.tensors.get(n)!.type)))].join(', ');
    this.opts.onNote(`mimo: the ${backendName} backend has no ${types} kernel yet: ${d.tensors.size} GGUF tensors dequantised to f32 at load (${(d.bytes / 2 ** 20).toFixed(1)} MiB)`);
  }

  close(): void {
    this.cache.clear();
    this.files.close();
  }
}
