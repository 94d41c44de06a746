// GGUF block-quantised weight formats (ggml `block_*` structs, ggml/src/ggml-common.h; values as ggml-quants.c's
// `dequantize_row_*`), seen as the matmul kernels need them: a row of `cols` columns is cols / 32 groups of 32
// columns, and every format decodes a group to 32 small integers q[i] with one scale s and one bias b per half of 16:
//   W[r, 32·g + i] = fround(fround(s[i / 16] · q[i]) + b[i / 16])      (b = 0 and no add for formats without a min)
// which is exactly the float32 value ggml's dequantisation (and src/tensor/formats/ggml/*.ts, the definition here)
// gives — scales d · sc are rounded to float32 first, as ggml does. Per format (ids from ggml.h `enum ggml_type`):
//   Q4_0 (2)    18 B / 32:  d f16, qs[16];              q = nibble − 8                 (low nibbles: columns 0–15)
//   Q4_1 (3)    20 B / 32:  d, m f16, qs[16];           q = nibble, b = m
//   Q5_0 (6)    22 B / 32:  d, qh u32, qs[16];          q = (nibble | bit i of qh << 4) − 16
//   Q5_1 (7)    24 B / 32:  d, m, qh u32, qs[16];       q = nibble | bit << 4, b = m
//   Q8_0 (8)    34 B / 32:  d, qs[32] int8;             q = qs
//   Q2_K (10)   84 B / 256: scales[16], qs[64], d, dmin; per 16: s = d·(sc & 15), b = −dmin·(sc >> 4), q 2 bits
//   Q3_K (11)  110 B / 256: hmask[32], qs[64], scales[12], d; per 16: s = d·(6-bit sc − 32), q = 2 bits − (hbit ? 0 : 4)
//   Q4_K (12)  144 B / 256: d, dmin, scales[12], qs[128]; per 32: s = d·sc, b = −dmin·m (6-bit sc, m), q nibble
//   Q5_K (13)  176 B / 256: d, dmin, scales[12], qh[32], qs[128]; as Q4_K with a 5th bit from qh
//   Q6_K (14)  210 B / 256: ql[128], qh[64], scales[16] int8, d; per 16: s = d·sc, q = (4 + 2 bits) − 32
//   IQ4_NL (20) 18 B / 32:  d, qs[16];                  q = kvalues_iq4nl[nibble]
//   IQ4_XS (23) 136 B / 256: d, scales_h u16, scales_l[4], qs[128]; per 32: s = d·(6-bit ls − 32), q as IQ4_NL
//   MXFP4 (39)  17 B / 32:  e (E8M0), qs[16];           q = kvalues_mxfp4[nibble] (2·FP4), s = 2^(e − 128)
// The group unpackers below are portable C++ (the scalar level, and the SIMD levels' formats without a vector
// unpacker); `H::f(bits)` converts an F16 scale (exactly) so a SIMD file can pass its F16C instruction.
#pragma once
#include <cstdint>
#include <cstring>

// Everything is TU-local (anonymous namespace): each kernel file compiles its own copy for its own target.
namespace mimo {
namespace {

constexpr int kGgmlGroup = 32;

enum GgmlTypeId : int {
  kQ4_0 = 2, kQ4_1 = 3, kQ5_0 = 6, kQ5_1 = 7, kQ8_0 = 8, kQ2_K = 10, kQ3_K = 11, kQ4_K = 12, kQ5_K = 13, kQ6_K = 14,
  kIQ4_NL = 20, kIQ4_XS = 23, kMXFP4 = 39,
};

// Elements and bytes per block of a type the kernels run; false for any other id.
inline bool ggmlBlockGeometry(int type, int* elements, int* bytes) {
  int e = 32, b = 0;
  switch (type) {
    case kQ4_0: b = 18; break;
    case kQ4_1: b = 20; break;
    case kQ5_0: b = 22; break;
    case kQ5_1: b = 24; break;
    case kQ8_0: b = 34; break;
    case kIQ4_NL: b = 18; break;
    case kMXFP4: b = 17; break;
    case kQ2_K: e = 256; b = 84; break;
    case kQ3_K: e = 256; b = 110; break;
    case kQ4_K: e = 256; b = 144; break;
    case kQ5_K: e = 256; b = 176; break;
    case kQ6_K: e = 256; b = 210; break;
    case kIQ4_XS: e = 256; b = 136; break;
    default: return false;
  }
  *elements = e;
  *bytes = b;
  return true;
}

// Elements and bytes per block, as constants for the kernels' templates (0 for a type the kernels do not run).
constexpr int ggmlBlockElements(int type) { return type == kQ2_K || type == kQ3_K || type == kQ4_K || type == kQ5_K || type == kQ6_K || type == kIQ4_XS ? 256 : 32; }
constexpr int ggmlBlockBytes(int type) {
  return type == kQ4_0 ? 18 : type == kQ4_1 ? 20 : type == kQ5_0 ? 22 : type == kQ5_1 ? 24 : type == kQ8_0 ? 34 : type == kIQ4_NL ? 18
       : type == kMXFP4 ? 17 : type == kQ2_K ? 84 : type == kQ3_K ? 110 : type == kQ4_K ? 144 : type == kQ5_K ? 176 : type == kQ6_K ? 210
       : type == kIQ4_XS ? 136 : 0;
}

// Bytes of one row of `cols` columns (cols a whole number of blocks).
inline size_t ggmlRowBytes(int type, int cols) {
  int e = 1, b = 0;
  ggmlBlockGeometry(type, &e, &b);
  return static_cast<size_t>(cols / e) * b;
}

// The name ggml gives a type (for messages).
inline const char* ggmlTypeName(int type) {
  switch (type) {
    case kQ4_0: return "Q4_0";
    case kQ4_1: return "Q4_1";
    case kQ5_0: return "Q5_0";
    case kQ5_1: return "Q5_1";
    case kQ8_0: return "Q8_0";
    case kQ2_K: return "Q2_K";
    case kQ3_K: return "Q3_K";
    case kQ4_K: return "Q4_K";
    case kQ5_K: return "Q5_K";
    case kQ6_K: return "Q6_K";
    case kIQ4_NL: return "IQ4_NL";
    case kIQ4_XS: return "IQ4_XS";
    case kMXFP4: return "MXFP4";
    default: return "unsupported";
  }
}

// Exact IEEE half → float without F16C (subnormals, infinities, NaN).
struct HalfPortable {
  static float f(uint16_t h) {
    const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
    const uint32_t e = (h >> 10) & 0x1F, m = h & 0x3FF;
    uint32_t bits;
    if (e == 0) {
      if (m == 0) {
        bits = sign;
      } else {
        // subnormal: m · 2^-24, normalised
        int sh = 0;
        uint32_t mm = m;
        while (!(mm & 0x400)) {
          mm <<= 1;
          sh++;
        }
        bits = sign | ((113 - sh) << 23) | ((mm & 0x3FF) << 13);
      }
    } else if (e == 31) {
      bits = sign | 0x7F800000u | (m << 13);
    } else {
      bits = sign | ((e + 112) << 23) | (m << 13);
    }
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
};

alignas(16) inline const int8_t kIq4nlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};
alignas(16) inline const int8_t kMxfp4Values[16] = {0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12};

// ggml's GGML_E8M0_TO_FP32_HALF: 2^(e − 128) for every byte (e = 0, 1 are float32 subnormals; 255 is 2^127).
inline float e8m0Half(uint8_t e) {
  const uint32_t bits = e < 2 ? 0x00200000u << e : static_cast<uint32_t>(e - 1) << 23;
  float v;
  std::memcpy(&v, &bits, 4);
  return v;
}

// One group of 32 columns: integers q, and per half (16 columns) a scale and a bias.
struct GroupQ {
  alignas(16) int8_t q[32];
  float s[2];
  float b[2];
};

inline uint16_t u16At(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t u32At(const uint8_t* p) { return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24); }

// The 6-bit scale and min codes of sub-block j < 8 of a Q4_K / Q5_K block's 12 scale bytes (ggml get_scale_min_k4).
inline void kScaleMin(const uint8_t* sc, int j, int* s, int* m) {
  if (j < 4) {
    *s = sc[j] & 63;
    *m = sc[j + 4] & 63;
  } else {
    *s = (sc[j + 4] & 0x0F) | ((sc[j - 4] >> 6) << 4);
    *m = (sc[j + 4] >> 4) | ((sc[j] >> 6) << 4);
  }
}

// kScaleMin of all eight sub-blocks at once, four codes per 32-bit word: code[0..7] = scale codes, code[8..15] = mins.
inline void kScaleMinCodes(const uint8_t* sc, uint8_t* code) {
  uint32_t u[4];
  std::memcpy(u, sc, 12);
  const uint32_t m6 = 0x3F3F3F3Fu, m4 = 0x0F0F0F0Fu, m2 = 0x03030303u;
  u[3] = ((u[2] >> 4) & m4) | (((u[1] >> 6) & m2) << 4);
  const uint32_t mins03 = u[1] & m6;
  u[1] = (u[2] & m4) | (((u[0] >> 6) & m2) << 4);
  u[2] = mins03;
  u[0] &= m6;
  std::memcpy(code, u, 16);
}

// The 6-bit scale code (before the −32 offset) of 16-column sub-block s < 16 of a Q3_K block's 12 scale bytes.
inline int q3kScale(const uint8_t* sc, int s) {
  const int lo = s < 8 ? sc[s] & 0x0F : sc[s - 8] >> 4;
  const int hi = (sc[8 + (s & 3)] >> (2 * (s >> 2))) & 3;
  return lo | (hi << 4);
}

// The 6-bit scale (before −32) of 32-column sub-block ib < 8 of an IQ4_XS block at p.
inline int iq4xsScale(const uint8_t* p, int ib) {
  const int h = u16At(p + 2);
  return ((p[4 + (ib >> 1)] >> (4 * (ib & 1))) & 0x0F) | (((h >> (2 * ib)) & 3) << 4);
}

// The block scales and biases of group j of the block at p (the integer codes are unpacked separately).
template <class H>
inline void groupScales(int type, const uint8_t* p, int j, float* s, float* b) {
  b[0] = b[1] = 0.0f;
  switch (type) {
    case kQ4_0: case kQ5_0: case kQ8_0: case kIQ4_NL:
      s[0] = s[1] = H::f(u16At(p));
      return;
    case kQ4_1: case kQ5_1:
      s[0] = s[1] = H::f(u16At(p));
      b[0] = b[1] = H::f(u16At(p + 2));
      return;
    case kMXFP4:
      s[0] = s[1] = e8m0Half(p[0]);
      return;
    case kQ2_K: {
      const float d = H::f(u16At(p + 80)), dmin = H::f(u16At(p + 82));
      for (int h = 0; h < 2; h++) {
        const int sc = p[2 * j + h];
        s[h] = d * static_cast<float>(sc & 15);
        b[h] = -(dmin * static_cast<float>(sc >> 4));
      }
      return;
    }
    case kQ3_K: {
      const float d = H::f(u16At(p + 108));
      for (int h = 0; h < 2; h++) s[h] = d * static_cast<float>(q3kScale(p + 96, 2 * j + h) - 32);
      return;
    }
    case kQ4_K: case kQ5_K: {
      int sc, m;
      kScaleMin(p + 4, j, &sc, &m);
      s[0] = s[1] = H::f(u16At(p)) * static_cast<float>(sc);
      b[0] = b[1] = -(H::f(u16At(p + 2)) * static_cast<float>(m));
      return;
    }
    case kQ6_K: {
      const float d = H::f(u16At(p + 208));
      for (int h = 0; h < 2; h++) s[h] = d * static_cast<float>(static_cast<int8_t>(p[192 + 2 * j + h]));
      return;
    }
    case kIQ4_XS:
      s[0] = s[1] = H::f(u16At(p)) * static_cast<float>(iq4xsScale(p, j) - 32);
      return;
    default:
      s[0] = s[1] = 0.0f;
  }
}

// Scales and biases of every group of the block at p, per half: s[2·j + h], b[2·j + h] for group j, half h (the
// values of groupScales, with the block's F16 fields converted once).
template <class H, int TY>
inline void blockScales(const uint8_t* p, float* s, float* b) {
  constexpr int per = ggmlBlockElements(TY) / kGgmlGroup;
  if constexpr (per == 1) {
    groupScales<H>(TY, p, 0, s, b);
  } else if constexpr (TY == kQ4_K || TY == kQ5_K) {
    const float d = H::f(u16At(p)), dmin = H::f(u16At(p + 2));
    uint8_t code[16];
    kScaleMinCodes(p + 4, code);
    for (int j = 0; j < 8; j++) {
      s[2 * j] = s[2 * j + 1] = d * static_cast<float>(code[j]);
      b[2 * j] = b[2 * j + 1] = -(dmin * static_cast<float>(code[8 + j]));
    }
  } else if constexpr (TY == kQ6_K) {
    const float d = H::f(u16At(p + 208));
    for (int k = 0; k < 16; k++) {
      s[k] = d * static_cast<float>(static_cast<int8_t>(p[192 + k]));
      b[k] = 0.0f;
    }
  } else if constexpr (TY == kQ2_K) {
    const float d = H::f(u16At(p + 80)), dmin = H::f(u16At(p + 82));
    for (int k = 0; k < 16; k++) {
      s[k] = d * static_cast<float>(p[k] & 15);
      b[k] = -(dmin * static_cast<float>(p[k] >> 4));
    }
  } else if constexpr (TY == kQ3_K) {
    const float d = H::f(u16At(p + 108));
    for (int k = 0; k < 16; k++) {
      s[k] = d * static_cast<float>(q3kScale(p + 96, k) - 32);
      b[k] = 0.0f;
    }
  } else {
    static_assert(TY == kIQ4_XS, "a 256-element format without block scales");
    const float d = H::f(u16At(p));
    for (int j = 0; j < 8; j++) {
      s[2 * j] = s[2 * j + 1] = d * static_cast<float>(iq4xsScale(p, j) - 32);
      b[2 * j] = b[2 * j + 1] = 0.0f;
    }
  }
}

// Whether a type's values carry a bias (a min): the kernels add b only for these.
constexpr bool ggmlHasBias(int type) { return type == kQ4_1 || type == kQ5_1 || type == kQ2_K || type == kQ4_K || type == kQ5_K; }

// The integer codes of group j of the block at p, portable.
inline void groupCodes(int type, const uint8_t* p, int j, int8_t* q) {
  switch (type) {
    case kQ4_0:
      for (int i = 0; i < 16; i++) {
        q[i] = static_cast<int8_t>((p[2 + i] & 15) - 8);
        q[i + 16] = static_cast<int8_t>((p[2 + i] >> 4) - 8);
      }
      return;
    case kQ4_1:
      for (int i = 0; i < 16; i++) {
        q[i] = static_cast<int8_t>(p[4 + i] & 15);
        q[i + 16] = static_cast<int8_t>(p[4 + i] >> 4);
      }
      return;
    case kQ5_0: case kQ5_1: {
      const int o = type == kQ5_0 ? 2 : 4;
      const uint32_t qh = u32At(p + o);
      const int off = type == kQ5_0 ? 16 : 0;
      for (int i = 0; i < 16; i++) {
        q[i] = static_cast<int8_t>(((p[o + 4 + i] & 15) | (((qh >> i) & 1) << 4)) - off);
        q[i + 16] = static_cast<int8_t>(((p[o + 4 + i] >> 4) | (((qh >> (i + 16)) & 1) << 4)) - off);
      }
      return;
    }
    case kQ8_0:
      std::memcpy(q, p + 2, 32);
      return;
    case kIQ4_NL:
      for (int i = 0; i < 16; i++) {
        q[i] = kIq4nlValues[p[2 + i] & 15];
        q[i + 16] = kIq4nlValues[p[2 + i] >> 4];
      }
      return;
    case kMXFP4:
      for (int i = 0; i < 16; i++) {
        q[i] = kMxfp4Values[p[1 + i] & 15];
        q[i + 16] = kMxfp4Values[p[1 + i] >> 4];
      }
      return;
    case kQ2_K: {
      const uint8_t* qs = p + 16 + 32 * (j >> 2);
      const int sh = 2 * (j & 3);
      for (int t = 0; t < 32; t++) q[t] = static_cast<int8_t>((qs[t] >> sh) & 3);
      return;
    }
    case kQ3_K: {
      const uint8_t* qs = p + 32 + 32 * (j >> 2);
      const int sh = 2 * (j & 3);
      const int hb = 4 * (j >> 2) + (j & 3);
      for (int t = 0; t < 32; t++) q[t] = static_cast<int8_t>(((qs[t] >> sh) & 3) - (((p[t] >> hb) & 1) ? 0 : 4));
      return;
    }
    case kQ4_K: {
      const uint8_t* qs = p + 16 + 32 * (j >> 1);
      const int sh = 4 * (j & 1);
      for (int t = 0; t < 32; t++) q[t] = static_cast<int8_t>((qs[t] >> sh) & 15);
      return;
    }
    case kQ5_K: {
      const uint8_t* qs = p + 48 + 32 * (j >> 1);
      const int sh = 4 * (j & 1);
      for (int t = 0; t < 32; t++) q[t] = static_cast<int8_t>(((qs[t] >> sh) & 15) | (((p[16 + t] >> j) & 1) << 4));
      return;
    }
    case kQ6_K: {
      const int h = j >> 2, k = j & 3;
      const uint8_t* ql = p + 64 * h + 32 * (k & 1);
      const uint8_t* qh = p + 128 + 32 * h;
      for (int t = 0; t < 32; t++) q[t] = static_cast<int8_t>((((ql[t] >> (4 * (k >> 1))) & 15) | (((qh[t] >> (2 * k)) & 3) << 4)) - 32);
      return;
    }
    case kIQ4_XS: {
      const uint8_t* qs = p + 8 + 16 * j;
      for (int i = 0; i < 16; i++) {
        q[i] = kIq4nlValues[qs[i] & 15];
        q[i + 16] = kIq4nlValues[qs[i] >> 4];
      }
      return;
    }
    default:
      std::memset(q, 0, 32);
  }
}

// Group g of a row whose blocks start at `row`: the block's address and the group's index inside it.
inline const uint8_t* ggmlGroupBlock(const uint8_t* row, int type, int g, int* j) {
  int e = 32, b = 0;
  ggmlBlockGeometry(type, &e, &b);
  const int per = e / kGgmlGroup;
  *j = g % per;
  return row + static_cast<size_t>(g / per) * b;
}

// W[r, 32·g … 32·g + 31] as float32 (the definition above), portable.
template <class H>
inline void decodeGgmlGroup(int type, const uint8_t* row, int g, float* out) {
  int j;
  const uint8_t* p = ggmlGroupBlock(row, type, g, &j);
  GroupQ gq;
  groupCodes(type, p, j, gq.q);
  groupScales<H>(type, p, j, gq.s, gq.b);
  const bool bias = ggmlHasBias(type);
  for (int i = 0; i < 32; i++) {
    const float v = gq.s[i >> 4] * static_cast<float>(gq.q[i]);
    out[i] = bias ? v + gq.b[i >> 4] : v;
  }
}

}  // namespace
}  // namespace mimo
