// Node-API bindings of the mimo.ts native backend. Every entry point validates its arguments (types, lengths,
// index ranges) before touching memory, and throws a JS TypeError/RangeError naming the op and argument.
// Outputs are caller-allocated Float32Arrays (see src/kernels/native/addon.ts for the typed interface).
#include <napi.h>

#include <cmath>
#include <cstring>
#include <string>

#include "attention.h"
#include "bandwidth.h"
#include "common.h"
#include "cpu.h"
#include "elementwise.h"
#include "matmul.h"
#include "mmap_file.h"
#include "thread_pool.h"

namespace {

using mimo::WDType;

template <class T>
struct Span {
  T* data;
  size_t length;
};

[[noreturn]] void throwType(const Napi::Env& env, const std::string& msg) { throw Napi::TypeError::New(env, msg); }
[[noreturn]] void throwRange(const Napi::Env& env, const std::string& msg) { throw Napi::RangeError::New(env, msg); }

template <class T>
Span<T> typedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name,
                 const char* typeName) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throwType(info.Env(), std::string(op) + ": " + name + " must be a " + typeName);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  uint8_t* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return {reinterpret_cast<T*>(base + ta.ByteOffset()), ta.ElementLength()};
}

Span<float> f32Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return typedArg<float>(info, i, napi_float32_array, op, name, "Float32Array");
}

bool isNullish(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t lo, int64_t hi) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throwType(info.Env(), std::string(op) + ": " + name + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throwRange(info.Env(), std::string(op) + ": " + name + " must be an integer in [" + std::to_string(lo) + ", " +
                               std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

double numArg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsNumber()) throwType(info.Env(), std::string(op) + ": " + name + " must be a number");
  return v.As<Napi::Number>().DoubleValue();
}

void expectLength(const Napi::Env& env, size_t got, size_t want, const char* op, const char* name) {
  if (got != want)
    throwRange(env, std::string(op) + ": " + name + " has " + std::to_string(got) + " elements, expected " + std::to_string(want));
}

constexpr int64_t kMaxDim = 0x7fffffff;

// matmul(y, x, T, dtype, data, rows, cols, scales, scaleCols, blockCols, rowScale): y [T, rows] = x [T, cols] · Wᵀ.
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "matmul";
  const Span<float> y = f32Arg(info, 0, op, "y");
  const Span<float> x = f32Arg(info, 1, op, "x");
  const int T = static_cast<int>(intArg(info, 2, op, "T", 0, kMaxDim));
  if (!info[3].IsString()) throwType(env, "matmul: dtype must be a string");
  const std::string dtype = info[3].As<Napi::String>().Utf8Value();
  const int rows = static_cast<int>(intArg(info, 5, op, "rows", 0, kMaxDim));
  const int cols = static_cast<int>(intArg(info, 6, op, "cols", 0, kMaxDim));
  mimo::WeightView w{};
  w.rows = rows;
  w.cols = cols;
  size_t dataLength = 0;
  if (dtype == "f32") {
    w.dtype = WDType::F32;
    const Span<float> d = f32Arg(info, 4, op, "data (f32)");
    w.data = d.data;
    dataLength = d.length;
  } else if (dtype == "bf16" || dtype == "f16") {
    w.dtype = dtype == "bf16" ? WDType::BF16 : WDType::F16;
    const Span<uint16_t> d = typedArg<uint16_t>(info, 4, napi_uint16_array, op, "data (bf16/f16)", "Uint16Array");
    w.data = d.data;
    dataLength = d.length;
  } else if (dtype == "fp8") {
    w.dtype = WDType::FP8;
    const Span<uint8_t> d = typedArg<uint8_t>(info, 4, napi_uint8_array, op, "data (fp8)", "Uint8Array");
    w.data = d.data;
    dataLength = d.length;
  } else {
    throwRange(env, "matmul: dtype must be 'f32', 'bf16', 'f16' or 'fp8', got '" + dtype + "'");
  }
  const size_t weightElems = static_cast<size_t>(rows) * cols;
  if (dataLength < weightElems)
    throwRange(env, "matmul: weight data has " + std::to_string(dataLength) + " elements, expected [" + std::to_string(rows) +
                        ", " + std::to_string(cols) + "]");
  expectLength(env, x.length, static_cast<size_t>(T) * cols, op, "x");
  expectLength(env, y.length, static_cast<size_t>(T) * rows, op, "y");
  if (w.dtype == WDType::FP8) {
    if (isNullish(info[7]) || isNullish(info[10])) throwType(env, "matmul: an fp8 weight needs scales and rowScale");
    const Span<float> scales = f32Arg(info, 7, op, "scales");
    w.scaleCols = static_cast<int>(intArg(info, 8, op, "scaleCols", 1, kMaxDim));
    w.blockCols = static_cast<int>(intArg(info, 9, op, "blockCols", 1, kMaxDim));
    const Span<int32_t> rowScale = typedArg<int32_t>(info, 10, napi_int32_array, op, "rowScale", "Int32Array");
    if (static_cast<int64_t>(w.scaleCols) * w.blockCols < cols)
      throwRange(env, "matmul: scaleCols " + std::to_string(w.scaleCols) + " × blockCols " + std::to_string(w.blockCols) +
                          " does not cover cols " + std::to_string(cols));
    if (rowScale.length < static_cast<size_t>(rows))
      throwRange(env, "matmul: rowScale has " + std::to_string(rowScale.length) + " entries, expected " + std::to_string(rows));
    const size_t scaleRows = scales.length / w.scaleCols;
    for (int r = 0; r < rows; r++) {
      if (rowScale.data[r] < 0 || static_cast<size_t>(rowScale.data[r]) >= scaleRows)
        throwRange(env, "matmul: rowScale[" + std::to_string(r) + "] = " + std::to_string(rowScale.data[r]) +
                            " is outside the " + std::to_string(scaleRows) + " scale rows");
    }
    w.scales = scales.data;
    w.rowScale = rowScale.data;
  }
  mimo::MatmulArgs a{x.data, T, y.data, w};
  mimo::matmul(a);
  return env.Undefined();
}

// rmsNorm(y, x, T, weight, eps)
Napi::Value RmsNorm(const Napi::CallbackInfo& info) {
  const char* op = "rmsNorm";
  const Span<float> y = f32Arg(info, 0, op, "y");
  const Span<float> x = f32Arg(info, 1, op, "x");
  const int T = static_cast<int>(intArg(info, 2, op, "T", 0, kMaxDim));
  const Span<float> w = f32Arg(info, 3, op, "weight");
  const double eps = numArg(info, 4, op, "eps");
  expectLength(info.Env(), x.length, static_cast<size_t>(T) * w.length, op, "x");
  expectLength(info.Env(), y.length, x.length, op, "y");
  if (w.length > static_cast<size_t>(kMaxDim)) throwRange(info.Env(), "rmsNorm: weight too long");
  mimo::rmsNorm(y.data, x.data, T, static_cast<int>(w.length), w.data, eps);
  return info.Env().Undefined();
}

// rope(x, T, heads, headDim, rotaryDim, theta, start)
Napi::Value Rope(const Napi::CallbackInfo& info) {
  const char* op = "rope";
  const Span<float> x = f32Arg(info, 0, op, "x");
  const int T = static_cast<int>(intArg(info, 1, op, "T", 0, kMaxDim));
  const int heads = static_cast<int>(intArg(info, 2, op, "heads", 0, kMaxDim));
  const int headDim = static_cast<int>(intArg(info, 3, op, "headDim", 0, kMaxDim));
  const int rotaryDim = static_cast<int>(intArg(info, 4, op, "rotaryDim", 0, headDim));
  const double theta = numArg(info, 5, op, "theta");
  const int64_t start = intArg(info, 6, op, "start", 0, int64_t(1) << 52);
  if (rotaryDim % 2 != 0) throwRange(info.Env(), "rope: rotaryDim must be even, got " + std::to_string(rotaryDim));
  expectLength(info.Env(), x.length, static_cast<size_t>(T) * heads * headDim, op, "x");
  mimo::rope(x.data, T, heads, headDim, rotaryDim, theta, start);
  return info.Env().Undefined();
}

// swiglu(y, gate, up)
Napi::Value Swiglu(const Napi::CallbackInfo& info) {
  const char* op = "swiglu";
  const Span<float> y = f32Arg(info, 0, op, "y");
  const Span<float> g = f32Arg(info, 1, op, "gate");
  const Span<float> u = f32Arg(info, 2, op, "up");
  expectLength(info.Env(), u.length, g.length, op, "up");
  expectLength(info.Env(), y.length, g.length, op, "y");
  mimo::swiglu(y.data, g.data, u.data, g.length);
  return info.Env().Undefined();
}

// attention(out, q, k, v, start, T, Hq, Hkv, Dqk, Dv, window, sinks, pastKeys, pastValues, pastRows)
Napi::Value Attention(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "attention";
  mimo::AttentionArgs a{};
  const Span<float> out = f32Arg(info, 0, op, "out");
  const Span<float> q = f32Arg(info, 1, op, "q");
  const Span<float> k = f32Arg(info, 2, op, "k");
  const Span<float> v = f32Arg(info, 3, op, "v");
  a.start = intArg(info, 4, op, "start", 0, int64_t(1) << 52);
  a.T = static_cast<int>(intArg(info, 5, op, "T", 0, kMaxDim));
  a.Hq = static_cast<int>(intArg(info, 6, op, "numHeads", 1, kMaxDim));
  a.Hkv = static_cast<int>(intArg(info, 7, op, "numKvHeads", 1, kMaxDim));
  a.Dqk = static_cast<int>(intArg(info, 8, op, "headDim", 0, kMaxDim));
  a.Dv = static_cast<int>(intArg(info, 9, op, "vHeadDim", 0, kMaxDim));
  a.hasWindow = !isNullish(info[10]);
  a.window = a.hasWindow ? intArg(info, 10, op, "window", 0, int64_t(1) << 52) : 0;
  Span<float> sinks{nullptr, 0};
  if (!isNullish(info[11])) sinks = f32Arg(info, 11, op, "sinks");
  const Span<float> pk = f32Arg(info, 12, op, "pastKeys");
  const Span<float> pv = f32Arg(info, 13, op, "pastValues");
  a.pastRows = intArg(info, 14, op, "pastRows", 0, int64_t(1) << 52);
  if (a.Hq % a.Hkv != 0)
    throwRange(env, "attention: numHeads " + std::to_string(a.Hq) + " is not a multiple of numKvHeads " + std::to_string(a.Hkv));
  const size_t T = static_cast<size_t>(a.T);
  expectLength(env, q.length, T * a.Hq * a.Dqk, op, "q");
  expectLength(env, k.length, T * a.Hkv * a.Dqk, op, "k");
  expectLength(env, v.length, T * a.Hkv * a.Dv, op, "v");
  expectLength(env, out.length, T * a.Hq * a.Dv, op, "out");
  a.sinks = sinks.data;
  if (a.sinks != nullptr) expectLength(env, sinks.length, static_cast<size_t>(a.Hq), op, "sinks");
  const bool readsPast = a.T > 0 && a.start > 0 && (!a.hasWindow || a.window > 1);
  if (readsPast) {
    if (a.pastRows < 1) throwRange(env, "attention: start > 0 needs cached keys but pastRows is 0");
    if (pk.length < static_cast<size_t>(a.pastRows) * a.Hkv * a.Dqk)
      throwRange(env, "attention: pastKeys has " + std::to_string(pk.length) + " elements, expected at least [" +
                          std::to_string(a.pastRows) + ", " + std::to_string(a.Hkv) + ", " + std::to_string(a.Dqk) + "]");
    if (pv.length < static_cast<size_t>(a.pastRows) * a.Hkv * a.Dv)
      throwRange(env, "attention: pastValues has " + std::to_string(pv.length) + " elements, expected at least [" +
                          std::to_string(a.pastRows) + ", " + std::to_string(a.Hkv) + ", " + std::to_string(a.Dv) + "]");
  }
  a.q = q.data;
  a.k = k.data;
  a.v = v.data;
  a.pastKeys = pk.data;
  a.pastValues = pv.data;
  a.out = out.data;
  mimo::attention(a);
  return env.Undefined();
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  const int n = static_cast<int>(intArg(info, 0, "setThreads", "n", 1, 1024));
  if (n != mimo::poolThreads()) mimo::setPoolThreads(n);
  return info.Env().Undefined();
}

Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mimo::poolThreads()); }

Napi::Value CpuFeatures(const Napi::CallbackInfo& info) {
  const mimo::CpuFeatures& f = mimo::cpuFeatures();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("avx512f", f.avx512f);
  o.Set("avx512bw", f.avx512bw);
  o.Set("avx512vl", f.avx512vl);
  o.Set("avx512dq", f.avx512dq);
  o.Set("avx512bf16", f.avx512bf16);
  o.Set("avx512vnni", f.avx512vnni);
  o.Set("avx2", f.avx2);
  o.Set("fma", f.fma);
  o.Set("f16c", f.f16c);
  return o;
}

Napi::Value SetDispatch(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsString()) throwType(env, "setDispatch: level must be 'avx512', 'avx2' or 'scalar'");
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  mimo::Level level;
  if (!mimo::parseLevel(name.c_str(), &level))
    throwRange(env, "setDispatch: unknown level '" + name + "' (expected 'avx512', 'avx2' or 'scalar')");
  const char* missing = "";
  if (!mimo::levelSupported(level, &missing))
    throw Napi::Error::New(env, "setDispatch: this CPU cannot run the '" + name + "' kernels (it lacks " + missing +
                                    "); best available is '" + mimo::levelName(mimo::bestLevel()) + "'");
  mimo::setLevel(level);
  return env.Undefined();
}

Napi::Value GetDispatch(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), mimo::levelName(mimo::currentLevel()));
}

Napi::Value BestDispatch(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), mimo::levelName(mimo::bestLevel()));
}

// mmapFile(path) → ArrayBuffer over a read-only private mapping; unmapped when the buffer is collected.
Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsString()) throwType(env, "mmapFile: path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  mimo::Mapping m{};
  std::string error;
  if (!mimo::mapFile(path, &m, &error)) throw Napi::Error::New(env, "mmapFile: " + path + ": " + error);
  if (m.data == nullptr) return Napi::ArrayBuffer::New(env, 0);
  auto* hint = new mimo::Mapping(m);
  return Napi::ArrayBuffer::New(
      env, m.data, m.size,
      [](Napi::Env, void*, mimo::Mapping* h) {
        mimo::unmapFile(*h);
        delete h;
      },
      hint);
}

Napi::Value MemReadBandwidth(const Napi::CallbackInfo& info) {
  const char* op = "memReadBandwidth";
  const int64_t bytes = intArg(info, 0, op, "bytes", 4096, int64_t(1) << 40);
  const int threads = static_cast<int>(intArg(info, 1, op, "threads", 1, 1024));
  const int repeats = static_cast<int>(intArg(info, 2, op, "repeats", 1, 1000));
  const bool hugePages = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
  try {
    return Napi::Number::New(info.Env(), mimo::memReadBandwidth(static_cast<size_t>(bytes), threads, repeats, hugePages));
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(info.Env(), "memReadBandwidth: cannot allocate " + std::to_string(bytes) + " bytes");
  }
}

Napi::Value DispatchOverhead(const Napi::CallbackInfo& info) {
  const int iterations = static_cast<int>(intArg(info, 0, "dispatchOverheadUs", "iterations", 1, 100000000));
  return Napi::Number::New(info.Env(), mimo::dispatchOverheadUs(iterations));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm, "rmsNorm"));
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  exports.Set("swiglu", Napi::Function::New(env, Swiglu, "swiglu"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures, "cpuFeatures"));
  exports.Set("setDispatch", Napi::Function::New(env, SetDispatch, "setDispatch"));
  exports.Set("getDispatch", Napi::Function::New(env, GetDispatch, "getDispatch"));
  exports.Set("bestDispatch", Napi::Function::New(env, BestDispatch, "bestDispatch"));
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile, "mmapFile"));
  exports.Set("memReadBandwidth", Napi::Function::New(env, MemReadBandwidth, "memReadBandwidth"));
  exports.Set("dispatchOverheadUs", Napi::Function::New(env, DispatchOverhead, "dispatchOverheadUs"));
  return exports;
}

}  // namespace

NODE_API_MODULE(mimo_native, Init)
