/**
 * The 12-byte scale block shared by Q4_K and Q5_K (ggml-common.h `K_SCALE_SIZE`, ggml-quants.c
 * `get_scale_min_k4`): eight 6-bit scale codes and eight 6-bit min codes, one pair per 32-element sub-block j.
 * j < 4: scale = b[j] & 63, min = b[j + 4] & 63. j ≥ 4: scale = (b[j + 4] & 15) | (b[j − 4] >> 6) << 4,
 * min = (b[j + 4] >> 4) | (b[j] >> 6) << 4.
 */

/** Scale code of sub-block j (0…7) from the 12 scale bytes at src[p …]. */
export function kScale(src: Uint8Array, p: number, j: number): number {
  return j < 4 ? src[p + j]! & 63 : (src[p + j + 4]! & 0x0f) | ((src[p + j - 4]! >> 6) << 4);
}

/** Min code of sub-block j (0…7) from the 12 scale bytes at src[p …]. */
export function kMin(src: Uint8Array, p: number, j: number): number {
  return j < 4 ? src[p + j + 4]! & 63 : (src[p + j + 4]! >> 4) | ((src[p + j]! >> 6) << 4);
}

/**
 * Pack eight 6-bit scale codes and eight 6-bit min codes (each 0…63) into 12 bytes at dst[p …], the inverse of
 * {@link kScale} / {@link kMin}.
 */
export function packKScales(scales: ArrayLike<number>, mins: ArrayLike<number>, dst: Uint8Array, p: number): void {
  dst.fill(0, p, p + 12);
  for (let j = 0; j < 8; j++) {
    const ls = scales[j]!;
    const lm = mins[j]!;
    if (j < 4) {
      dst[p + j] = ls;
      dst[p + j + 4] = lm;
    } else {
      dst[p + j + 4] = (ls & 0x0f) | ((lm & 0x0f) << 4);
      dst[p + j - 4] |= (ls >> 4) << 6;
      dst[p + j] |= (lm >> 4) << 6;
    }
  }
}
