// Node-API bindings of the mimo.ts native backend. Every entry point validates its arguments (types, lengths,
// index ranges) before touching memory, and throws a JS TypeError/RangeError naming the op and argument.
// Outputs are caller-allocated Float32Arrays (see src/kernels/native/addon.ts for the typed interface).
#include <napi.h>

#include <sys/stat.h>

#include <cmath>
#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "attention.h"
#include "bandwidth.h"
#include "common.h"
#include "cpu.h"
#include "elementwise.h"
#include "ggml_blocks.h"
#include "ggml_q8.h"
#include "matmul.h"
#include "mmap_file.h"
#include "moe.h"
#include "quantize.h"
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

// Argument names are `prefix` + `name` (prefix e.g. "weights[3]."), joined only for an error message.
template <class T>
Span<T> typedValue(const Napi::Env& env, const Napi::Value& v, napi_typedarray_type type, const char* op, const char* prefix,
                   const char* name, const char* typeName) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type)
    throwType(env, std::string(op) + ": " + prefix + name + " must be a " + typeName);
  Napi::TypedArray ta = v.As<Napi::TypedArray>();
  uint8_t* base = static_cast<uint8_t*>(ta.ArrayBuffer().Data());
  return {reinterpret_cast<T*>(base + ta.ByteOffset()), ta.ElementLength()};
}

template <class T>
Span<T> typedArg(const Napi::CallbackInfo& info, size_t i, napi_typedarray_type type, const char* op, const char* name,
                 const char* typeName) {
  return typedValue<T>(info.Env(), info[i], type, op, "", name, typeName);
}

Span<float> f32Arg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name) {
  return typedArg<float>(info, i, napi_float32_array, op, name, "Float32Array");
}

bool isNullish(const Napi::Value& v) { return v.IsNull() || v.IsUndefined(); }

int64_t intValue(const Napi::Env& env, const Napi::Value& v, const char* op, const char* prefix, const char* name, int64_t lo,
                 int64_t hi) {
  if (!v.IsNumber()) throwType(env, std::string(op) + ": " + prefix + name + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d == std::floor(d)) || d < static_cast<double>(lo) || d > static_cast<double>(hi))
    throwRange(env, std::string(op) + ": " + prefix + name + " must be an integer in [" + std::to_string(lo) + ", " +
                        std::to_string(hi) + "], got " + std::to_string(d));
  return static_cast<int64_t>(d);
}

int64_t intArg(const Napi::CallbackInfo& info, size_t i, const char* op, const char* name, int64_t lo, int64_t hi) {
  return intValue(info.Env(), info[i], op, "", name, lo, hi);
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

// "op: name" for messages (name: a prefix such as "weights[3]." or empty, then the field).
std::string where(const char* op, const char* name) { return std::string(op) + ": " + name; }

// The dtype string of a weight, at most 7 bytes kept (enough to tell the valid names from anything else).
struct DTypeName {
  char s[8];
};
DTypeName dtypeName(const Napi::Env& env, const char* op, const char* name, const Napi::Value& v) {
  if (!v.IsString()) throwType(env, where(op, name) + "dtype must be a string");
  DTypeName d{};
  napi_get_value_string_utf8(env, v, d.s, sizeof d.s, nullptr);
  return d;
}

// A weight `[rows, cols]` from its parts (the `Weight` fields of src/kernels/backend.ts), checked: data long enough
// for its dtype, and for fp8 scales/rowScale present, covering every column and row. `name` prefixes the messages.
mimo::WeightView weightView(const Napi::Env& env, const char* op, const char* name, const DTypeName& dtypeN,
                            const Napi::Value& dataV, int rows, int cols, const Napi::Value& scalesV,
                            const Napi::Value& scaleColsV, const Napi::Value& blockColsV, const Napi::Value& rowScaleV,
                            const Napi::Value& ggmlTypeV) {
  const std::string dtype = dtypeN.s;  // short: no allocation
  mimo::WeightView w{};
  w.rows = rows;
  w.cols = cols;
  size_t dataLength = 0;
  if (dtype == "f32") {
    w.dtype = WDType::F32;
    const Span<float> d = typedValue<float>(env, dataV, napi_float32_array, op, name, "data (f32)", "Float32Array");
    w.data = d.data;
    dataLength = d.length;
  } else if (dtype == "bf16" || dtype == "f16") {
    w.dtype = dtype == "bf16" ? WDType::BF16 : WDType::F16;
    const Span<uint16_t> d = typedValue<uint16_t>(env, dataV, napi_uint16_array, op, name, "data (bf16/f16)", "Uint16Array");
    w.data = d.data;
    dataLength = d.length;
  } else if (dtype == "fp8") {
    w.dtype = WDType::FP8;
    const Span<uint8_t> d = typedValue<uint8_t>(env, dataV, napi_uint8_array, op, name, "data (fp8)", "Uint8Array");
    w.data = d.data;
    dataLength = d.length;
  } else if (dtype == "mxfp4") {
    w.dtype = WDType::MXFP4;
    if (cols % 32 != 0) throwRange(env, where(op, name) + "an mxfp4 weight needs cols divisible by 32, got " + std::to_string(cols));
    const Span<uint8_t> d = typedValue<uint8_t>(env, dataV, napi_uint8_array, op, name, "data (mxfp4)", "Uint8Array");
    if (isNullish(scalesV)) throwType(env, where(op, name) + "an mxfp4 weight needs its e8m0 scales");
    const Span<uint8_t> s = typedValue<uint8_t>(env, scalesV, napi_uint8_array, op, name, "e8m0 scales", "Uint8Array");
    const size_t need = static_cast<size_t>(rows) * (cols / 2);
    if (d.length < need)
      throwRange(env, where(op, name) + "mxfp4 data has " + std::to_string(d.length) + " bytes, expected " + std::to_string(need));
    const size_t needS = static_cast<size_t>(rows) * (cols / 32);
    if (s.length < needS)
      throwRange(env, where(op, name) + "mxfp4 e8m0 scales have " + std::to_string(s.length) + " bytes, expected " + std::to_string(needS));
    w.data = d.data;
    w.e8m0 = s.data;
    w.scaleCols = cols / 32;
    w.blockCols = 32;
    return w;
  } else if (dtype == "ggml") {
    // A GGUF block-quantised weight: `rows` rows of whole blocks of ggml type ggmlType (ggml_blocks.h).
    w.dtype = WDType::GGML;
    const int type = static_cast<int>(intValue(env, ggmlTypeV, op, name, "ggmlType", 0, 1023));
    int be = 0, bb = 0;
    if (!mimo::ggmlBlockGeometry(type, &be, &bb))
      throwRange(env, where(op, name) + "ggml type " + std::to_string(type) + " has no native kernel (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_NL, IQ4_XS, MXFP4 have)");
    if (cols % be != 0)
      throwRange(env, where(op, name) + "a " + mimo::ggmlTypeName(type) + " weight needs cols divisible by " + std::to_string(be) + ", got " + std::to_string(cols));
    const Span<uint8_t> d = typedValue<uint8_t>(env, dataV, napi_uint8_array, op, name, "data (ggml)", "Uint8Array");
    const size_t need = static_cast<size_t>(rows) * mimo::ggmlRowBytes(type, cols);
    if (d.length < need)
      throwRange(env, where(op, name) + mimo::ggmlTypeName(type) + " data has " + std::to_string(d.length) + " bytes, expected " + std::to_string(need) +
                          " ([" + std::to_string(rows) + ", " + std::to_string(cols) + "])");
    w.data = d.data;
    w.ggmlType = type;
    return w;
  } else {
    throwRange(env, where(op, name) + "dtype must be 'f32', 'bf16', 'f16', 'fp8', 'mxfp4' or 'ggml', got '" + dtype + "'");
  }
  const size_t weightElems = static_cast<size_t>(rows) * cols;
  if (dataLength < weightElems)
    throwRange(env, where(op, name) + "weight data has " + std::to_string(dataLength) + " elements, expected [" +
                        std::to_string(rows) + ", " + std::to_string(cols) + "]");
  if (w.dtype == WDType::FP8) {
    if (isNullish(scalesV) || isNullish(rowScaleV)) throwType(env, where(op, name) + "an fp8 weight needs scales and rowScale");
    const Span<float> scales = typedValue<float>(env, scalesV, napi_float32_array, op, name, "scales", "Float32Array");
    w.scaleCols = static_cast<int>(intValue(env, scaleColsV, op, name, "scaleCols", 1, kMaxDim));
    w.blockCols = static_cast<int>(intValue(env, blockColsV, op, name, "blockCols", 1, kMaxDim));
    const Span<int32_t> rowScale = typedValue<int32_t>(env, rowScaleV, napi_int32_array, op, name, "rowScale", "Int32Array");
    if (static_cast<int64_t>(w.scaleCols) * w.blockCols < cols)
      throwRange(env, where(op, name) + "scaleCols " + std::to_string(w.scaleCols) + " × blockCols " +
                          std::to_string(w.blockCols) + " does not cover cols " + std::to_string(cols));
    if (rowScale.length < static_cast<size_t>(rows))
      throwRange(env, where(op, name) + "rowScale has " + std::to_string(rowScale.length) + " entries, expected " +
                          std::to_string(rows));
    const size_t scaleRows = scales.length / w.scaleCols;
    for (int r = 0; r < rows; r++) {
      if (rowScale.data[r] < 0 || static_cast<size_t>(rowScale.data[r]) >= scaleRows)
        throwRange(env, where(op, name) + "rowScale[" + std::to_string(r) + "] = " + std::to_string(rowScale.data[r]) +
                            " is outside the " + std::to_string(scaleRows) + " scale rows");
    }
    w.scales = scales.data;
    w.rowScale = rowScale.data;
  }
  return w;
}

// Sets w.q8Act from a Weight's `activations`: undefined / null = f32 activations; 'int8' = the 8-bit path of
// ggml_q8.h, for a ggml weight of a type it runs (RangeError otherwise, naming the type).
void applyActivations(const Napi::Env& env, const char* op, const char* name, const Napi::Value& v, mimo::WeightView& w) {
  if (isNullish(v)) return;
  if (!v.IsString() || v.As<Napi::String>().Utf8Value() != "int8") throwRange(env, where(op, name) + "activations must be 'int8' or undefined");
  if (w.dtype != WDType::GGML || !mimo::ggmlQ8ActType(w.ggmlType))
    throwRange(env, where(op, name) + "activations 'int8' needs a ggml weight of type Q4_0, Q5_0, Q8_0, IQ4_NL or MXFP4, got " +
                        (w.dtype == WDType::GGML ? std::string(mimo::ggmlTypeName(w.ggmlType)) : std::string("a non-ggml dtype")));
  w.q8Act = true;
}

// matmul(y, x, T, dtype, data, rows, cols, scales, scaleCols, blockCols, rowScale, ggmlType, activations): y [T, rows] =
// x [T, cols] · Wᵀ (ggmlType: the ggml type id of a 'ggml' weight, else unused; activations: undefined or 'int8').
Napi::Value Matmul(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "matmul";
  const Span<float> y = f32Arg(info, 0, op, "y");
  const Span<float> x = f32Arg(info, 1, op, "x");
  const int T = static_cast<int>(intArg(info, 2, op, "T", 0, kMaxDim));
  const int rows = static_cast<int>(intArg(info, 5, op, "rows", 0, kMaxDim));
  const int cols = static_cast<int>(intArg(info, 6, op, "cols", 0, kMaxDim));
  mimo::WeightView w =
      weightView(env, op, "", dtypeName(env, op, "", info[3]), info[4], rows, cols, info[7], info[8], info[9], info[10], info[11]);
  applyActivations(env, op, "", info[12], w);
  expectLength(env, x.length, static_cast<size_t>(T) * cols, op, "x");
  expectLength(env, y.length, static_cast<size_t>(T) * rows, op, "y");
  mimo::MatmulArgs a{x.data, T, y.data, w};
  mimo::matmul(a);
  return env.Undefined();
}

// The property names of a `Weight`, kept per environment in an array (Node 20 cannot reference a string directly):
// looking up a name through a handle costs less than internalising it from a C string for every property read.
enum WeightKey { kRows, kCols, kDType, kData, kScales, kScaleCols, kBlockCols, kRowScale, kE8m0, kGgmlType, kActivations, kWeightKeys };
const char* const kWeightKeyNames[kWeightKeys] = {"rows",   "cols",      "dtype",     "data",    "scales",
                                                  "scaleCols", "blockCols", "rowScale", "e8m0", "ggmlType", "activations"};

struct AddonData {
  Napi::ObjectReference weightKeys;
};

struct WeightKeys {
  Napi::Value k[kWeightKeys];
};

WeightKeys weightKeys(const Napi::Env& env) {
  const Napi::Object arr = env.GetInstanceData<AddonData>()->weightKeys.Value();
  WeightKeys keys;
  for (int i = 0; i < kWeightKeys; i++) keys.k[i] = arr.Get(static_cast<uint32_t>(i));
  return keys;
}

// A `Weight` object's view (weights[index] of moeExperts).
mimo::WeightView weightObject(const Napi::Env& env, const WeightKeys& keys, const char* op, const Napi::Value& v,
                              uint32_t index) {
  char name[24] = "weights[";  // "weights[<index>]."
  char digits[12];
  int nd = 0;
  for (uint32_t i = index; nd == 0 || i > 0; i /= 10) digits[nd++] = static_cast<char>('0' + i % 10);
  char* p = name + 8;
  while (nd > 0) *p++ = digits[--nd];
  std::memcpy(p, "].", 3);
  if (!v.IsObject()) throwType(env, std::string(op) + ": weights[" + std::to_string(index) + "] must be a Weight object");
  const Napi::Object o = v.As<Napi::Object>();
  auto get = [&](WeightKey k) { return o.Get(keys.k[k]); };
  const int rows = static_cast<int>(intValue(env, get(kRows), op, name, "rows", 0, kMaxDim));
  const int cols = static_cast<int>(intValue(env, get(kCols), op, name, "cols", 0, kMaxDim));
  const DTypeName dtype = dtypeName(env, op, name, get(kDType));
  const Napi::Value none = env.Undefined();
  if (std::strcmp(dtype.s, "mxfp4") == 0) return weightView(env, op, name, dtype, get(kData), rows, cols, get(kE8m0), none, none, none, none);
  if (std::strcmp(dtype.s, "ggml") == 0) {
    mimo::WeightView w = weightView(env, op, name, dtype, get(kData), rows, cols, none, none, none, none, get(kGgmlType));
    applyActivations(env, op, name, get(kActivations), w);
    return w;
  }
  if (std::strcmp(dtype.s, "fp8") != 0) return weightView(env, op, name, dtype, get(kData), rows, cols, none, none, none, none, none);
  return weightView(env, op, name, dtype, get(kData), rows, cols, get(kScales), get(kScaleCols), get(kBlockCols), get(kRowScale), none);
}

// moeExperts(out, x, T, weights, rowStart, rows, rowWeights): out [T, D] (D = x.length / T) = Σ over selected experts j
// (weights[3j .. 3j+2] = gate [I, D], up [I, D], down [D, I]) and their routed rows i in [rowStart[j], rowStart[j+1]) of
// rowWeights[i] · mlp_j(x[rows[i]]), experts summed in the given order.
Napi::Value MoeExperts(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "moeExperts";
  const Span<float> out = f32Arg(info, 0, op, "out");
  const Span<float> x = f32Arg(info, 1, op, "x");
  const int T = static_cast<int>(intArg(info, 2, op, "T", 0, kMaxDim));
  if (!info[3].IsArray()) throwType(env, "moeExperts: weights must be an array of Weight objects");
  const Napi::Array ws = info[3].As<Napi::Array>();
  const Span<int32_t> rowStart = typedArg<int32_t>(info, 4, napi_int32_array, op, "rowStart", "Int32Array");
  const Span<int32_t> rows = typedArg<int32_t>(info, 5, napi_int32_array, op, "rows", "Int32Array");
  const Span<float> rowWeights = f32Arg(info, 6, op, "rowWeights");
  if (T == 0 ? x.length != 0 : x.length % static_cast<size_t>(T) != 0)
    throwRange(env, "moeExperts: x has " + std::to_string(x.length) + " elements, not a multiple of T = " + std::to_string(T));
  const size_t D = T == 0 ? 0 : x.length / T;
  if (D > static_cast<size_t>(kMaxDim)) throwRange(env, "moeExperts: x rows too long");
  expectLength(env, out.length, x.length, op, "out");
  const uint32_t nW = ws.Length();
  if (nW % 3 != 0) throwRange(env, "moeExperts: weights has " + std::to_string(nW) + " entries, not gate/up/down triples");
  const int nE = static_cast<int>(nW / 3);
  expectLength(env, rowStart.length, static_cast<size_t>(nE) + 1, op, "rowStart");
  expectLength(env, rowWeights.length, rows.length, op, "rowWeights");
  if (rowStart.data[0] != 0 || static_cast<size_t>(rowStart.data[nE]) != rows.length)
    throwRange(env, "moeExperts: rowStart must run from 0 to rows.length = " + std::to_string(rows.length));
  for (size_t i = 0; i < rows.length; i++)
    if (rows.data[i] < 0 || rows.data[i] >= T)
      throwRange(env, "moeExperts: rows[" + std::to_string(i) + "] = " + std::to_string(rows.data[i]) + " is outside [0, " +
                          std::to_string(T) + ")");
  const WeightKeys keys = weightKeys(env);
  std::vector<mimo::MoeExpert> experts;
  experts.reserve(nE);
  for (int j = 0; j < nE; j++) {
    const int n = rowStart.data[j + 1] - rowStart.data[j];
    if (n < 1) throwRange(env, "moeExperts: rowStart must increase strictly (expert " + std::to_string(j) + " has no rows)");
    mimo::MoeExpert e{};
    e.gate = weightObject(env, keys, op, ws.Get(3 * j), 3 * j);
    e.up = weightObject(env, keys, op, ws.Get(3 * j + 1), 3 * j + 1);
    e.down = weightObject(env, keys, op, ws.Get(3 * j + 2), 3 * j + 2);
    const size_t I = static_cast<size_t>(e.gate.rows);
    if (static_cast<size_t>(e.gate.cols) != D || static_cast<size_t>(e.up.cols) != D || static_cast<size_t>(e.up.rows) != I ||
        static_cast<size_t>(e.down.rows) != D || static_cast<size_t>(e.down.cols) != I)
      throwRange(env, "moeExperts: expert " + std::to_string(j) + " has gate [" + std::to_string(e.gate.rows) + ", " +
                          std::to_string(e.gate.cols) + "], up [" + std::to_string(e.up.rows) + ", " + std::to_string(e.up.cols) +
                          "], down [" + std::to_string(e.down.rows) + ", " + std::to_string(e.down.cols) + "]; expected [I, " +
                          std::to_string(D) + "], [I, " + std::to_string(D) + "], [" + std::to_string(D) + ", I]");
    e.rows = rows.data + rowStart.data[j];
    e.weights = rowWeights.data + rowStart.data[j];
    e.n = n;
    experts.push_back(e);
  }
  mimo::moeExperts(out.data, x.data, T, static_cast<int>(D), experts.data(), nE);
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

// The arguments attention and attentionPaged share: out, q, k, v, start, T, Hq, Hkv, Dqk, Dv (positions 0 … 9).
struct AttentionIo {
  Span<float> out, q, k, v;
};

AttentionIo attentionHead(const Napi::CallbackInfo& info, const char* op, mimo::AttentionArgs& a) {
  AttentionIo io{f32Arg(info, 0, op, "out"), f32Arg(info, 1, op, "q"), f32Arg(info, 2, op, "k"), f32Arg(info, 3, op, "v")};
  a.start = intArg(info, 4, op, "start", 0, int64_t(1) << 52);
  a.T = static_cast<int>(intArg(info, 5, op, "T", 0, kMaxDim));
  a.Hq = static_cast<int>(intArg(info, 6, op, "numHeads", 1, kMaxDim));
  a.Hkv = static_cast<int>(intArg(info, 7, op, "numKvHeads", 1, kMaxDim));
  a.Dqk = static_cast<int>(intArg(info, 8, op, "headDim", 0, kMaxDim));
  a.Dv = static_cast<int>(intArg(info, 9, op, "vHeadDim", 0, kMaxDim));
  return io;
}

// Head grouping and the lengths of q [T, Hq, Dqk], k [T, Hkv, Dqk], v [T, Hkv, Dv], out [T, Hq, Dv], sinks [Hq];
// sets a.q, a.k, a.v, a.out and a.sinks.
void checkAttentionShapes(Napi::Env env, const char* op, mimo::AttentionArgs& a, const AttentionIo& io, const Span<float>& sinks) {
  if (a.Hq % a.Hkv != 0)
    throwRange(env, std::string(op) + ": numHeads " + std::to_string(a.Hq) + " is not a multiple of numKvHeads " + std::to_string(a.Hkv));
  const size_t T = static_cast<size_t>(a.T);
  expectLength(env, io.q.length, T * a.Hq * a.Dqk, op, "q");
  expectLength(env, io.k.length, T * a.Hkv * a.Dqk, op, "k");
  expectLength(env, io.v.length, T * a.Hkv * a.Dv, op, "v");
  expectLength(env, io.out.length, T * a.Hq * a.Dv, op, "out");
  a.sinks = sinks.data;
  if (a.sinks != nullptr) expectLength(env, sinks.length, static_cast<size_t>(a.Hq), op, "sinks");
  a.q = io.q.data;
  a.k = io.k.data;
  a.v = io.v.data;
  a.out = io.out.data;
}

// attention(out, q, k, v, start, T, Hq, Hkv, Dqk, Dv, window, sinks, pastKeys, pastValues, pastRows); pastKeys and
// pastValues are both Float32Array or both Uint16Array (BF16 bits, a --kv-dtype bf16 cache).
Napi::Value Attention(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "attention";
  mimo::AttentionArgs a{};
  const AttentionIo io = attentionHead(info, op, a);
  a.hasWindow = !isNullish(info[10]);
  a.window = a.hasWindow ? intArg(info, 10, op, "window", 0, int64_t(1) << 52) : 0;
  Span<float> sinks{nullptr, 0};
  if (!isNullish(info[11])) sinks = f32Arg(info, 11, op, "sinks");
  const bool bf16 = info[12].IsTypedArray() && info[12].As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  Span<float> pk{nullptr, 0}, pv{nullptr, 0};
  Span<uint16_t> pk16{nullptr, 0}, pv16{nullptr, 0};
  if (bf16) {
    pk16 = typedArg<uint16_t>(info, 12, napi_uint16_array, op, "pastKeys", "Uint16Array");
    pv16 = typedArg<uint16_t>(info, 13, napi_uint16_array, op, "pastValues", "Uint16Array (as pastKeys)");
    pk.length = pk16.length;
    pv.length = pv16.length;
  } else {
    pk = f32Arg(info, 12, op, "pastKeys");
    pv = f32Arg(info, 13, op, "pastValues");
  }
  a.pastRows = intArg(info, 14, op, "pastRows", 0, int64_t(1) << 52);
  checkAttentionShapes(env, op, a, io, sinks);
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
  a.pastKeys = pk.data;
  a.pastValues = pv.data;
  a.pastKeysBf16 = pk16.data;
  a.pastValuesBf16 = pv16.data;
  mimo::attention(a);
  return env.Undefined();
}

// attentionPaged(out, q, k, v, start, T, Hq, Hkv, Dqk, Dv, sinks, pageKeys, pageValues, pageSize): full causal
// attention whose cached positions 0 … start−1 sit in pages (a full-attention layer's page table): position p in row
// p mod pageSize of pageKeys[p / pageSize] `[pageSize, Hkv, Dqk]` and pageValues[…] `[pageSize, Hkv, Dv]`. The pages
// are all Float32Array or all Uint16Array (BF16 bits); bitwise the result of `attention` over the same rows.
Napi::Value AttentionPaged(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  const char* op = "attentionPaged";
  mimo::AttentionArgs a{};
  const AttentionIo io = attentionHead(info, op, a);
  a.hasWindow = false;
  Span<float> sinks{nullptr, 0};
  if (!isNullish(info[10])) sinks = f32Arg(info, 10, op, "sinks");
  if (!info[11].IsArray() || !info[12].IsArray()) throwType(env, std::string(op) + ": pageKeys and pageValues must be arrays of typed arrays");
  const Napi::Array pk = info[11].As<Napi::Array>();
  const Napi::Array pv = info[12].As<Napi::Array>();
  a.pageSize = intArg(info, 13, op, "pageSize", 1, kMaxDim);
  checkAttentionShapes(env, op, a, io, sinks);
  // Only the pages of positions below start are read.
  const int64_t need = a.T > 0 ? (a.start + a.pageSize - 1) / a.pageSize : 0;
  if (static_cast<int64_t>(pk.Length()) < need || static_cast<int64_t>(pv.Length()) < need)
    throwRange(env, "attentionPaged: " + std::to_string(a.start) + " cached positions need " + std::to_string(need) + " pages, got " +
                        std::to_string(pk.Length()) + " key and " + std::to_string(pv.Length()) + " value pages");
  const bool bf16 = need > 0 && pk.Get(uint32_t(0)).IsTypedArray() && pk.Get(uint32_t(0)).As<Napi::TypedArray>().TypedArrayType() == napi_uint16_array;
  static thread_local std::vector<const float*> kf, vf;
  static thread_local std::vector<const uint16_t*> kb, vb;
  kf.assign(bf16 ? 0 : need, nullptr);
  vf.assign(bf16 ? 0 : need, nullptr);
  kb.assign(bf16 ? need : 0, nullptr);
  vb.assign(bf16 ? need : 0, nullptr);
  const size_t kLen = static_cast<size_t>(a.pageSize) * a.Hkv * a.Dqk;
  const size_t vLen = static_cast<size_t>(a.pageSize) * a.Hkv * a.Dv;
  for (int64_t i = 0; i < need; i++) {
    const std::string at = "[" + std::to_string(i) + "]";
    const Napi::Value kv = pk.Get(static_cast<uint32_t>(i));
    const Napi::Value vv = pv.Get(static_cast<uint32_t>(i));
    size_t kl, vl;
    if (bf16) {
      const Span<uint16_t> ks = typedValue<uint16_t>(env, kv, napi_uint16_array, op, "pageKeys", at.c_str(), "Uint16Array (as pageKeys[0])");
      const Span<uint16_t> vs = typedValue<uint16_t>(env, vv, napi_uint16_array, op, "pageValues", at.c_str(), "Uint16Array (as pageKeys[0])");
      kb[i] = ks.data;
      vb[i] = vs.data;
      kl = ks.length;
      vl = vs.length;
    } else {
      const Span<float> ks = typedValue<float>(env, kv, napi_float32_array, op, "pageKeys", at.c_str(), "Float32Array (as pageKeys[0])");
      const Span<float> vs = typedValue<float>(env, vv, napi_float32_array, op, "pageValues", at.c_str(), "Float32Array (as pageKeys[0])");
      kf[i] = ks.data;
      vf[i] = vs.data;
      kl = ks.length;
      vl = vs.length;
    }
    if (kl < kLen || vl < vLen)
      throwRange(env, "attentionPaged: page " + std::to_string(i) + " has " + std::to_string(kl) + " keys / " + std::to_string(vl) +
                          " values, expected [" + std::to_string(a.pageSize) + ", " + std::to_string(a.Hkv) + ", " + std::to_string(a.Dqk) +
                          "|" + std::to_string(a.Dv) + "]");
  }
  a.pageKeys = bf16 ? nullptr : kf.data();
  a.pageValues = bf16 ? nullptr : vf.data();
  a.pageKeysBf16 = bf16 ? kb.data() : nullptr;
  a.pageValuesBf16 = bf16 ? vb.data() : nullptr;
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

// The mapping behind an ArrayBuffer of mmapFile.
struct MappedBuffer {
  mimo::Mapping m;
};

// Live mappings by their data pointer, so unmapFile can find the one behind a buffer. An entry leaves when it is
// unmapped (by unmapFile or the finalizer); the address may then be reused by a new mapping, so a late finalizer
// only touches the entry if it is still its own.
std::mutex gMappedMutex;
std::unordered_map<void*, MappedBuffer*> gMapped;

// mmapFile(path) → ArrayBuffer over a read-only private mapping; unmapped when the buffer is collected, or earlier
// by unmapFile.
Napi::Value MmapFile(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsString()) throwType(env, "mmapFile: path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  // Node's external ArrayBuffers hold at most 4 GiB − 1 bytes (node::Buffer's limit; a larger one fails inside Node
  // and frees its finalizer data twice): larger files are mapped in windows by the caller.
  constexpr int64_t kMaxWindow = (int64_t(1) << 32) - 1;
  const int64_t offset = info.Length() > 1 && !info[1].IsUndefined() ? intArg(info, 1, "mmapFile", "offset", 0, int64_t(1) << 52) : 0;
  const int64_t length = info.Length() > 2 && !info[2].IsUndefined() ? intArg(info, 2, "mmapFile", "length", 1, kMaxWindow) : 0;
  struct stat st;
  if (length == 0 && stat(path.c_str(), &st) == 0 && st.st_size > kMaxWindow)
    throw Napi::Error::New(env, "mmapFile: " + path + ": the file has " + std::to_string(st.st_size) +
                                    " bytes, more than one mapping may hold (4 GiB − 1); map it in windows (offset, length)");
  mimo::Mapping m{};
  std::string error;
  if (!mimo::mapFile(path, &m, &error, static_cast<size_t>(offset), static_cast<size_t>(length))) throw Napi::Error::New(env, "mmapFile: " + path + ": " + error);
  if (m.data == nullptr) return Napi::ArrayBuffer::New(env, 0);
  auto* hint = new MappedBuffer{m};
  {
    std::lock_guard<std::mutex> lock(gMappedMutex);
    gMapped[m.data] = hint;
  }
  return Napi::ArrayBuffer::New(
      env, m.data, m.size,
      [](Napi::Env, void*, MappedBuffer* h) {
        std::lock_guard<std::mutex> lock(gMappedMutex);
        auto it = gMapped.find(h->m.data);
        if (it != gMapped.end() && it->second == h) {
          mimo::unmapFile(h->m);
          gMapped.erase(it);
        }
        delete h;
      },
      hint);
}

// unmapFile(buffer): unmaps an mmapFile buffer now and detaches it (every view of it then has length 0, so no kernel
// can read the released pages). An empty buffer (empty file) is left as is; any other buffer is a TypeError.
Napi::Value UnmapFile(const Napi::CallbackInfo& info) {
  const Napi::Env env = info.Env();
  if (!info[0].IsArrayBuffer()) throwType(env, "unmapFile: buffer must be an ArrayBuffer from mmapFile");
  Napi::ArrayBuffer ab = info[0].As<Napi::ArrayBuffer>();
  if (ab.ByteLength() == 0) return env.Undefined();
  {
    std::lock_guard<std::mutex> lock(gMappedMutex);
    auto it = gMapped.find(ab.Data());
    if (it == gMapped.end() || it->second->m.size != ab.ByteLength()) throwType(env, "unmapFile: buffer is not a live mapping from mmapFile");
    mimo::unmapFile(it->second->m);
    gMapped.erase(it);
  }
  ab.Detach();  // the finalizer (now or at collection) finds no entry of its own and only frees the hint
  return env.Undefined();
}

// ggmlTypes() → the ggml type ids whose blocks the kernels run as stored (ascending).
Napi::Value GgmlTypes(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (int t = 0; t < 64; t++) {
    int e, b;
    if (mimo::ggmlBlockGeometry(t, &e, &b)) out.Set(n++, Napi::Number::New(info.Env(), t));
  }
  return out;
}

// quantizeGgml(type, src, rows, cols, dst) → −1, or the flat index of src's first non-finite value (block types)
Napi::Value QuantizeGgml(const Napi::CallbackInfo& info) {
  const char* op = "quantizeGgml";
  const int type = static_cast<int>(intArg(info, 0, op, "type", 0, 1023));
  const Span<float> src = f32Arg(info, 1, op, "src");
  const int64_t rows = intArg(info, 2, op, "rows", 0, kMaxDim);
  const int64_t cols = intArg(info, 3, op, "cols", 0, kMaxDim);
  const Span<uint8_t> dst = typedArg<uint8_t>(info, 4, napi_uint8_array, op, "dst", "Uint8Array");
  if (!mimo::ggmlQuantizeSupported(type)) throwRange(info.Env(), std::string(op) + ": ggml type " + std::to_string(type) + " has no native encoder");
  const size_t rb = mimo::ggmlQuantizeRowBytes(type, cols);
  if (rb == 0 && cols > 0) throwRange(info.Env(), std::string(op) + ": " + std::to_string(cols) + " columns are not whole blocks of ggml type " + std::to_string(type));
  if (src.length < static_cast<size_t>(rows * cols)) expectLength(info.Env(), src.length, static_cast<size_t>(rows * cols), op, "src");
  if (dst.length < rb * static_cast<size_t>(rows)) expectLength(info.Env(), dst.length, rb * static_cast<size_t>(rows), op, "dst");
  return Napi::Number::New(info.Env(), static_cast<double>(mimo::ggmlQuantizeRows(type, src.data, rows, cols, dst.data)));
}

// ggmlQuantizeTypes() → the ggml type ids quantizeGgml writes (ascending).
Napi::Value GgmlQuantizeTypes(const Napi::CallbackInfo& info) {
  Napi::Array out = Napi::Array::New(info.Env());
  uint32_t n = 0;
  for (int t = 0; t < 64; t++)
    if (mimo::ggmlQuantizeSupported(t)) out.Set(n++, Napi::Number::New(info.Env(), t));
  return out;
}

Napi::Value RowInvariantRows(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), mimo::rowInvariantRows()); }

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
  Napi::Array keys = Napi::Array::New(env, kWeightKeys);
  for (uint32_t i = 0; i < kWeightKeys; i++) keys.Set(i, Napi::String::New(env, kWeightKeyNames[i]));
  env.SetInstanceData(new AddonData{Napi::Persistent(static_cast<Napi::Object>(keys))});
  exports.Set("matmul", Napi::Function::New(env, Matmul, "matmul"));
  exports.Set("rmsNorm", Napi::Function::New(env, RmsNorm, "rmsNorm"));
  exports.Set("rope", Napi::Function::New(env, Rope, "rope"));
  exports.Set("swiglu", Napi::Function::New(env, Swiglu, "swiglu"));
  exports.Set("attention", Napi::Function::New(env, Attention, "attention"));
  exports.Set("attentionPaged", Napi::Function::New(env, AttentionPaged, "attentionPaged"));
  exports.Set("moeExperts", Napi::Function::New(env, MoeExperts, "moeExperts"));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads, "setThreads"));
  exports.Set("getThreads", Napi::Function::New(env, GetThreads, "getThreads"));
  exports.Set("cpuFeatures", Napi::Function::New(env, CpuFeatures, "cpuFeatures"));
  exports.Set("setDispatch", Napi::Function::New(env, SetDispatch, "setDispatch"));
  exports.Set("getDispatch", Napi::Function::New(env, GetDispatch, "getDispatch"));
  exports.Set("bestDispatch", Napi::Function::New(env, BestDispatch, "bestDispatch"));
  exports.Set("mmapFile", Napi::Function::New(env, MmapFile, "mmapFile"));
  exports.Set("unmapFile", Napi::Function::New(env, UnmapFile, "unmapFile"));
  exports.Set("memReadBandwidth", Napi::Function::New(env, MemReadBandwidth, "memReadBandwidth"));
  exports.Set("ggmlTypes", Napi::Function::New(env, GgmlTypes, "ggmlTypes"));
  exports.Set("quantizeGgml", Napi::Function::New(env, QuantizeGgml, "quantizeGgml"));
  exports.Set("ggmlQuantizeTypes", Napi::Function::New(env, GgmlQuantizeTypes, "ggmlQuantizeTypes"));
  exports.Set("rowInvariantRows", Napi::Function::New(env, RowInvariantRows, "rowInvariantRows"));
  exports.Set("dispatchOverheadUs", Napi::Function::New(env, DispatchOverhead, "dispatchOverheadUs"));
  return exports;
}

}  // namespace

NODE_API_MODULE(mimo_native, Init)
