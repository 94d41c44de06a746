// Fused routed-experts op. Decode and short chunks: two parallel regions for all selected experts together instead
// of three matmuls and a SwiGLU per expert, each with its own dispatch. Region 1 splits every expert's intermediate
// rows into chunks; a task computes the chunk's gate and up rows for the expert's tokens (row kernel, the weights
// streamed once) and applies SwiGLU to them. Region 2 splits the D output rows; a task computes those rows of every
// expert's down projection and adds them to the output, expert by expert, so no two tasks write the same output and
// the summation order is fixed. Between the regions each expert's h is split once (KernelTable::splitX) for its
// down weight, rather than by every region-2 task. The row kernel gives every (row, token) the same bits under any
// row split, so the result equals the per-expert composition for any thread count.
#include "moe.h"

#include <cstdint>
#include <cstring>
#include <vector>

#include "ggml_q8.h"
#include "kernels.h"
#include "thread_pool.h"

namespace mimo {
namespace {

// Below this many weight elements × tokens a region runs on the calling thread only (sync would cost more).
constexpr size_t kParallelMin = 1 << 15;
// Floats of scratch kept per thread between calls (4 MiB).
constexpr size_t kKeepFloats = size_t(1) << 20;

// Tasks per thread of region 1 (gate/up rows) and region 2 (down rows). Small tasks keep the wait for the last one
// short (at decode a region-1 task of the real shapes is ~1 MB of MXFP4 weights, ~70 µs of one core's share of
// the bandwidth) and let a thread that runs alone under other load take over; region 2's tasks span every expert, so
// each one restarts a weight stream per expert and they stay twice as large.
constexpr int kGateUpTasks = 32;
constexpr int kDownTasks = 16;

// Rows per task: multiples of 8 (the row kernel's group), about perThread tasks per thread.
int rowsPerTask(int total, int threads, int perThread) {
  const int r = ceilDiv(ceilDiv(total, threads * perThread), 8) * 8;
  return r < 8 ? 8 : r;
}

// Asks for rows [r0, r0 + 8) of w (codes and MXFP4 scales) into L2 ahead of their use: the start of the next weight
// stream a task reads. The row kernel prefetches each next group of a call itself, but a call's first group would
// otherwise arrive by demand misses only (a region-2 task starts 8 streams, one per expert, of 128–256 KB each).
// Plain-layout dtypes only (the bytes of a row are known here); others are left to the hardware.
void prefetchStart(const WeightView& w, int r0) {
  size_t rowBytes;
  switch (w.dtype) {
    case WDType::MXFP4: rowBytes = static_cast<size_t>(w.cols) / 2; break;
    case WDType::FP8: rowBytes = static_cast<size_t>(w.cols); break;
    case WDType::BF16: rowBytes = static_cast<size_t>(w.cols) * 2; break;
    default: return;
  }
  const int n = minInt(8, w.rows - r0);
  if (n <= 0) return;
  const char* p = static_cast<const char*>(w.data) + static_cast<size_t>(r0) * rowBytes;
  for (size_t off = 0; off < n * rowBytes; off += 64) __builtin_prefetch(p + off, 0, 2);
  if (w.dtype == WDType::MXFP4 && w.e8m0) {
    const char* s = reinterpret_cast<const char*>(w.e8m0) + static_cast<size_t>(r0) * (w.cols / 32);
    for (size_t off = 0; off < static_cast<size_t>(n) * (w.cols / 32); off += 64) __builtin_prefetch(s + off, 0, 2);
  }
}

// y[t, r0 .. r1) = x[t] · W[r0 .. r1)ᵀ for t < n, with the row kernel.
inline void rowsOf(const KernelTable& k, const WeightView& w, const float* x, int n, float* y, int r0, int r1, const uint16_t* xs = nullptr,
                   const Q8Buffer* q8 = nullptr) {
  MatmulArgs a{x, n, y, w};
  a.xs = xs;
  if (q8 && w.q8Act) {
    a.xq = q8->q;
    a.xd = q8->d;
  }
  k.matmulRows(a, r0, r1);
}

// out[rows[i], d0 .. d1) += weights[i] · ye[i, d0 .. d1), in float64 rounded to float32 (the reference's `+=`).
void accumulate(float* out, int D, const MoeExpert& e, const float* ye, int d0, int d1) {
  for (int i = 0; i < e.n; i++) {
    float* o = out + static_cast<size_t>(e.rows[i]) * D;
    const float* y = ye + static_cast<size_t>(i) * D;
    const double w = e.weights[i];
    for (int d = d0; d < d1; d++) o[d] = static_cast<float>(static_cast<double>(o[d]) + w * static_cast<double>(y[d]));
  }
}

// The expert's input rows `[n, D]`: a view of x when its rows are consecutive, else gathered into dst.
const float* gatherRows(const float* x, int D, const MoeExpert& e, float* dst) {
  bool consecutive = true;
  for (int i = 1; i < e.n && consecutive; i++) consecutive = e.rows[i] == e.rows[0] + i;
  if (consecutive) return x + static_cast<size_t>(e.rows[0]) * D;
  for (int i = 0; i < e.n; i++)
    std::memcpy(dst + static_cast<size_t>(i) * D, x + static_cast<size_t>(e.rows[i]) * D, sizeof(float) * D);
  return dst;
}

// Scratch of an expert run with the row kernel: input rows, gate (then h) and up `[n, I]`, down output `[n, D]`.
struct Batch {
  int j;  // index into the experts
  const float* xe;
  const uint16_t* xs;  // xe split for the gate and up weights (KernelTable::splitX), or null
  const uint16_t* hs;  // h (g after SwiGLU) split for the down weight, or null
  Q8Buffer* xq;        // xe quantised for 8-bit-activation gate and up weights (both q8Act), or null
  Q8Buffer* hq;        // h quantised for an 8-bit-activation down weight, or null
  float* g;
  float* u;
  float* ye;
};

// Splits one input per batch (KernelTable::splitX) into `store`, each 64-byte aligned: words(b) is the split's size
// in 16-bit words (0: that batch is not split), split(b, q) writes it at q and records q in b.
template <class Words, class Split>
void splitEach(std::vector<Batch>& batches, std::vector<uint16_t>& store, Words words, Split split) {
  size_t total = 0;
  for (const Batch& b : batches)
    if (const size_t w = words(b)) total += w + 32;
  if (store.size() < total) store.resize(total);
  uint16_t* q = store.data();
  for (Batch& b : batches) {
    const size_t w = words(b);
    if (w == 0) continue;
    while (reinterpret_cast<uintptr_t>(q) & 63) q++;
    split(b, q);
    q += w;
  }
}

struct Piece {
  int b;  // batch
  int r0, r1;
};

}  // namespace

void moeExperts(float* out, const float* x, int T, int D, const MoeExpert* ex, int nE) {
  std::memset(out, 0, sizeof(float) * static_cast<size_t>(T) * D);
  if (T == 0 || D == 0 || nE == 0) return;
  const KernelTable& k = kernels();
  const int threads = poolThreads();

  size_t fusedFloats = 0;
  for (int j = 0; j < nE; j++) {
    const MoeExpert& e = ex[j];
    fusedFloats += static_cast<size_t>(e.n) * (2 * static_cast<size_t>(D) + 2 * static_cast<size_t>(e.gate.rows));
  }

  // Scratch: kept between calls up to kKeepFloats (every decode step needs it again), per call beyond (a long prefill).
  static thread_local std::vector<float> store;
  std::vector<float> local;
  float* p;
  if (fusedFloats <= kKeepFloats) {
    if (store.size() < fusedFloats) store.resize(fusedFloats);
    p = store.data();
  } else {
    local.resize(fusedFloats);
    p = local.data();
  }
  std::vector<Batch> batches;
  std::vector<Piece> pieces;
  int totalI = 0;
  size_t work = 0;
  for (int j = 0; j < nE; j++) {
    const MoeExpert& e = ex[j];
    const size_t n = e.n, I = e.gate.rows;
    Batch b{j, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr};
    b.xe = gatherRows(x, D, e, p);
    p += n * D;
    b.g = p;
    p += n * I;
    b.u = p;
    p += n * I;
    b.ye = p;
    p += n * D;
    batches.push_back(b);
    totalI += e.gate.rows;
    work += 3 * n * I * D;
  }
  const int maxThreads = work < kParallelMin ? 1 : 0;

  // Levels whose row kernel works on split x: split every expert's input once here, not once per piece.
  static thread_local std::vector<uint16_t> xsStore;
  static thread_local std::vector<uint16_t> hsStore;
  if (k.splitWords)
    splitEach(
        batches, xsStore,
        [&](const Batch& b) {
          const MoeExpert& e = ex[b.j];
          const size_t w = k.splitWords(e.gate, e.n);
          return w > 0 && w == k.splitWords(e.up, e.n) && e.gate.dtype == e.up.dtype ? w : 0;
        },
        [&](Batch& b, uint16_t* q) {
          k.splitX(ex[b.j].gate, b.xe, ex[b.j].n, q);
          b.xs = q;
        });

  // 8-bit-activation experts: each input quantised once here (and h after region 1), not once per piece.
  static thread_local std::vector<Q8Buffer> q8Store;
  if (q8Store.size() < 2 * batches.size()) q8Store.resize(2 * batches.size());
  for (size_t bi = 0; bi < batches.size(); bi++) {
    Batch& b = batches[bi];
    const MoeExpert& e = ex[b.j];
    if (e.gate.q8Act && e.up.q8Act && e.gate.rows > 0) {
      q8Store[2 * bi].quantize(b.xe, e.n, D);
      b.xq = &q8Store[2 * bi];
    }
  }

  if (!batches.empty()) {
    // Region 1: h = silu(gate·x) ⊙ up·x for every fused expert, intermediate rows split into pieces.
    const int step = rowsPerTask(totalI, threads, kGateUpTasks);
    for (int b = 0; b < static_cast<int>(batches.size()); b++) {
      const int I = ex[batches[b].j].gate.rows;
      for (int r0 = 0; r0 < I; r0 += step) pieces.push_back({b, r0, minInt(I, r0 + step)});
    }
    parallelFor(
        static_cast<int>(pieces.size()),
        [&](int task, int) {
          const Piece& pc = pieces[task];
          const Batch& b = batches[pc.b];
          const MoeExpert& e = ex[b.j];
          const int I = e.gate.rows;
          if (e.n == 1) prefetchStart(e.up, pc.r0);
          rowsOf(k, e.gate, b.xe, e.n, b.g, pc.r0, pc.r1, b.xs, b.xq);
          rowsOf(k, e.up, b.xe, e.n, b.u, pc.r0, pc.r1, b.xs, b.xq);
          for (int t = 0; t < e.n; t++) {
            float* g = b.g + static_cast<size_t>(t) * I + pc.r0;
            k.swiglu(g, g, b.u + static_cast<size_t>(t) * I + pc.r0, pc.r1 - pc.r0);
          }
        },
        maxThreads);

    // h split once per expert for the down weights (not once per region-2 task).
    if (k.splitWords)
      splitEach(
          batches, hsStore, [&](const Batch& b) { return ex[b.j].gate.rows == 0 ? 0 : k.splitWords(ex[b.j].down, ex[b.j].n); },
          [&](Batch& b, uint16_t* q) {
            k.splitX(ex[b.j].down, b.g, ex[b.j].n, q);
            b.hs = q;
          });

    for (size_t bi = 0; bi < batches.size(); bi++) {
      Batch& b = batches[bi];
      const MoeExpert& e = ex[b.j];
      if (e.down.q8Act && e.gate.rows > 0) {
        q8Store[2 * bi + 1].quantize(b.g, e.n, e.gate.rows);
        b.hq = &q8Store[2 * bi + 1];
      }
    }

    // Region 2: rows [d0, d1) of every expert's down projection and their sum into out (experts in order), so the op
    // needs no further pass.
    const int dStep = rowsPerTask(D, threads, kDownTasks);
    parallelFor(
        ceilDiv(D, dStep),
        [&](int task, int) {
          const int d0 = task * dStep, d1 = minInt(D, d0 + dStep);
          for (size_t bi = 0; bi < batches.size(); bi++) {
            const Batch& b = batches[bi];
            const MoeExpert& e = ex[b.j];
            const MoeExpert* next = bi + 1 < batches.size() ? &ex[batches[bi + 1].j] : nullptr;
            if (next && next->n == 1 && next->gate.rows > 0) prefetchStart(next->down, d0);
            if (e.gate.rows == 0) {
              for (int i = 0; i < e.n; i++) std::memset(b.ye + static_cast<size_t>(i) * D + d0, 0, sizeof(float) * (d1 - d0));
            } else {
              rowsOf(k, e.down, b.g, e.n, b.ye, d0, d1, b.hs, b.hq);
            }
          }
          for (const Batch& b : batches) accumulate(out, D, ex[b.j], b.ye, d0, d1);
        },
        maxThreads);
  }
}

}  // namespace mimo
