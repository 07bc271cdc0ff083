// args.h: argument reading and checking for the binding (node-addon-api only, no math).
//
// The binding is the last line of defense: whatever JavaScript passes, the process must not crash.
// Every check throws a JS Error whose message starts with the argument's name and whose `code` is
//   ERR_GATED_SHAPE  an array has the wrong length, or sizes whose product does not fit
//   ERR_GATED_VALUE  wrong type, detached buffer, NaN / negative / fractional / too large size,
//                    out-of-range value, unknown enum string
// (lib/backend/native.ts maps them to ShapeError / ValueError).
//
// Reading happens in two phases so that user code cannot invalidate a check:
//   1. Fields' constructor reads every property the op uses with Object::Get. This is the only place
//      where user JavaScript can run (getters, Proxy traps), and it may do anything, e.g. detach a
//      buffer that another property holds.
//   2. The checks below only inspect the values read in phase 1 (type tags, lengths, raw numbers);
//      none of them can call back into JavaScript, so a pointer taken in phase 2 stays valid until the
//      callback returns (sync), or for as long as the array is referenced (async, see worker.h).
// What N-API cannot see: whether a buffer is resizable. A caller who shrinks a resizable ArrayBuffer
// (or detaches one) while an async call runs breaks the async contract; lib/validate.ts rejects
// resizable buffers on the public path.
#pragma once
#include <napi.h>
#include <stdint.h>
#include <stdio.h>

#include <cmath>
#include <cstring>
#include <initializer_list>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gated_binding {

// Upper bound on every size and on every array's element count (2^31-1). The TS layer uses the same
// bound (lib/validate.ts), so both reject the same arguments.
constexpr int64_t kMaxElements = 2147483647;

constexpr const char* kShape = "ERR_GATED_SHAPE";
constexpr const char* kValue = "ERR_GATED_VALUE";
constexpr const char* kNative = "ERR_GATED_NATIVE";

[[noreturn]] inline void Throw(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error e = Napi::Error::New(env, message);
  e.Value().Set("code", Napi::String::New(env, code));
  throw e;
}

// A number as JavaScript would print it for the values that matter here (NaN, Infinity, integers).
inline std::string NumberText(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  snprintf(buf, sizeof buf, "%.17g", d);
  return buf;
}

inline const char* TypedArrayName(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
      return "an Int8Array";
    case napi_uint8_array:
      return "a Uint8Array";
    case napi_uint8_clamped_array:
      return "a Uint8ClampedArray";
    case napi_int16_array:
      return "an Int16Array";
    case napi_uint16_array:
      return "a Uint16Array";
    case napi_int32_array:
      return "an Int32Array";
    case napi_uint32_array:
      return "a Uint32Array";
    case napi_float32_array:
      return "a Float32Array";
    case napi_float64_array:
      return "a Float64Array";
    case napi_bigint64_array:
      return "a BigInt64Array";
    case napi_biguint64_array:
      return "a BigUint64Array";
    default:
      return "a typed array";
  }
}

// What a value is, for messages ("got a Float64Array"). Never calls into user code.
inline std::string Describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined:
      return "undefined";
    case napi_null:
      return "null";
    case napi_boolean:
      return "a boolean";
    case napi_number:
      return "the number " + NumberText(v.As<Napi::Number>().DoubleValue());
    case napi_string:
      return "a string";
    case napi_symbol:
      return "a symbol";
    case napi_bigint:
      return "a bigint";
    case napi_function:
      return "a function";
    case napi_external:
      return "an external";
    default:
      break;
  }
  if (v.IsTypedArray()) return TypedArrayName(v.As<Napi::TypedArray>().TypedArrayType());
  if (v.IsArray()) return "an Array";
  if (v.IsArrayBuffer()) return "an ArrayBuffer";
  if (v.IsDataView()) return "a DataView";
  return "an object";
}

// Non-null stand-in for the data pointer of an empty array (V8 may give nullptr for a zero-length
// buffer, and "null" means "absent" to the kernels). Never read or written: its length is zero.
alignas(64) inline float g_empty_floats[16];

// A factor of an expected size: a named size ("hiddenSize", a string literal) or a constant (name
// nullptr).
struct Factor {
  const char* name;
  int64_t value;
};

// An expected element count and how it was computed. formula() is for messages only, so the happy
// path builds no string: the factors are kept and spelled out on failure, e.g.
// "4*hiddenSize*inputSize = 4*32*32"; or a fixed text ("attnDecoderCacheSize(sizes)").
struct Extent {
  static constexpr int kMaxFactors = 6;
  int64_t value = 0;
  const char* text = nullptr;  // the formula when given whole; else the factors below
  Factor factors[kMaxFactors] = {};
  int count = 0;

  Extent() = default;
  Extent(int64_t v, const char* t) : value(v), text(t) {}

  std::string formula() const {
    if (text) return text;
    std::string names, values;
    for (int i = 0; i < count; i++) {
      const Factor& f = factors[i];
      if (i > 0) {
        names += "*";
        values += "*";
      }
      names += f.name ? f.name : std::to_string(f.value);
      values += std::to_string(f.value);
    }
    return names + " = " + values;
  }
};

// The product of the factors, checked: throws ERR_GATED_SHAPE (naming `arg`) when it exceeds
// kMaxElements (so it can never overflow int64: each factor is <= 2^31-1 and the running product is
// checked before each multiplication).
inline Extent Product(Napi::Env env, const char* arg, std::initializer_list<Factor> factors) {
  Extent e;
  if (factors.size() > (size_t)Extent::kMaxFactors) {
    Throw(env, kNative, std::string(arg) + ": internal error: too many factors");
  }
  bool zero = false;
  for (const Factor& f : factors) {
    e.factors[e.count++] = f;
    if (f.value == 0) zero = true;
  }
  if (zero) return e;
  int64_t acc = 1;
  for (const Factor& f : factors) {
    if (f.value > kMaxElements / acc) {
      Throw(env, kShape,
            std::string(arg) + ": expected length " + e.formula() + " exceeds the limit of " +
                std::to_string(kMaxElements) + " elements");
    }
    acc *= f.value;
  }
  e.value = acc;
  return e;
}

// Phase 2 for one typed array: `v` must be a `type` array (`what`, e.g. "a Float32Array") of e.value
// elements (at least that many with at_least) whose buffer is attached. The message, built only on
// failure, reads "<name>: expected <what> of length <n> (<formula>), got ...".
inline Napi::TypedArray CheckTyped(Napi::Env env, const char* name, const Napi::Value& v,
                                   napi_typedarray_type type, const char* what, const Extent& e,
                                   bool at_least = false) {
  auto expect = [&] {
    return std::string(name) + ": expected " + what +
           (at_least ? " of at least " + std::to_string(e.value) + " elements ("
                     : " of length " + std::to_string(e.value) + " (") +
           e.formula() + ")";
  };
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != type) {
    Throw(env, kValue, expect() + ", got " + Describe(v));
  }
  Napi::TypedArray a = v.As<Napi::TypedArray>();
  if (a.ArrayBuffer().IsDetached()) {
    Throw(env, kValue, expect() + ", got one whose ArrayBuffer is detached");
  }
  const uint64_t n = a.ElementLength(), want = static_cast<uint64_t>(e.value);
  if (at_least ? n < want : n != want) {
    Throw(env, kShape, expect() + ", got " + std::to_string(n));
  }
  return a;
}

enum class Presence { Required, Optional };

// The field names as JS strings made once per environment, so that reading an op's fields does not
// convert and internalize every name again at every call (about a sixth of a small op's binding
// cost). N-API 8 has no references to strings, so they live in a referenced Array, one index per
// name. Keyed by the name's address (the names are string literals); a hit is confirmed by content,
// so a reused address can never read the wrong field. The environment's instance data.
class FieldKeys {
 public:
  // This environment's keys, made on first use.
  static FieldKeys& Of(Napi::Env env) {
    FieldKeys* keys = env.GetInstanceData<FieldKeys>();
    if (keys == nullptr) {
      keys = new FieldKeys(env);
      env.SetInstanceData(keys);  // deleted with the environment
    }
    return *keys;
  }

  // The Array that holds the strings: fetched once per op call, for all of its names.
  Napi::Array Strings() const { return strings_.Value(); }

  // The key of `name` (made and stored in `strings` on first use).
  napi_value Key(Napi::Env env, Napi::Array& strings, const char* name) {
    auto it = index_.find(name);
    if (it != index_.end() && it->second.text == name) return strings.Get(it->second.index);
    Napi::String key = Napi::String::New(env, name);
    const uint32_t index = strings.Length();
    strings.Set(index, key);
    index_.insert_or_assign(name, Entry{name, index});
    return key;
  }

 private:
  explicit FieldKeys(Napi::Env env) : strings_(Napi::Persistent(Napi::Array::New(env))) {}
  struct Entry {
    std::string text;
    uint32_t index;
  };
  Napi::Reference<Napi::Array> strings_;
  std::unordered_map<const char*, Entry> index_;
};

// Phase 1 and phase 2 (see the top of this file) for one op's argument object.
class Fields {
 public:
  Fields(Napi::Env env, const Napi::Value& args, std::initializer_list<const char*> names) : env_(env) {
    if (!args.IsObject()) {
      Throw(env, kValue, "args: expected an object, got " + Describe(args));
    }
    Napi::Object obj = args.As<Napi::Object>();
    FieldKeys& keys = FieldKeys::Of(env);
    Napi::Array strings = keys.Strings();
    values_.reserve(names.size());
    for (const char* name : names)
      values_.emplace_back(name, obj.Get(keys.Key(env, strings, name)));  // may run user code
  }

  Napi::Env Env() const { return env_; }

  Napi::Value Get(const char* name) const {
    for (const auto& nv : values_)  // the same literal, as a rule: compare addresses first
      if (nv.first == name) return nv.second;
    for (const auto& nv : values_)
      if (std::strcmp(nv.first, name) == 0) return nv.second;
    // A programming error in binding.cc (a name missing from the list), not a user error.
    Throw(env_, kNative, std::string(name) + ": internal error: field not read");
  }

  // A size: a number that is an integer in [0, kMaxElements].
  int64_t Size(const char* name) const { return SizeValue(env_, name, Get(name)); }
  // An optional size (undefined or null: dflt).
  int64_t SizeOr(const char* name, int64_t dflt) const {
    Napi::Value v = Get(name);
    return v.IsUndefined() || v.IsNull() ? dflt : SizeValue(env_, name, v);
  }

  static int64_t SizeValue(Napi::Env env, const char* name, const Napi::Value& v) {
    if (!v.IsNumber()) {
      Throw(env, kValue, std::string(name) + ": expected a non-negative integer, got " + Describe(v));
    }
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || !(d <= static_cast<double>(kMaxElements)) || std::floor(d) != d) {
      Throw(env, kValue,
            std::string(name) + ": expected an integer in [0, " + std::to_string(kMaxElements) + "], got " +
                NumberText(d));
    }
    return static_cast<int64_t>(d);
  }

  // An optional boolean (undefined or null: dflt).
  bool Bool(const char* name, bool dflt) const { return BoolValue(env_, name, Get(name), dflt); }

  static bool BoolValue(Napi::Env env, const char* name, const Napi::Value& v, bool dflt) {
    if (v.IsUndefined() || v.IsNull()) return dflt;
    if (!v.IsBoolean()) {
      Throw(env, kValue, std::string(name) + ": expected a boolean, got " + Describe(v));
    }
    return v.As<Napi::Boolean>().Value();
  }

  // An optional string from `allowed` (undefined or null: allowed[0]); returns its index.
  int Enum(const char* name, std::initializer_list<const char*> allowed) const {
    Napi::Value v = Get(name);
    if (v.IsUndefined() || v.IsNull()) return 0;
    auto list = [&] {
      std::string l;
      for (const char* a : allowed) l += std::string(l.empty() ? "'" : ", '") + a + "'";
      return l;
    };
    if (!v.IsString()) {
      Throw(env_, kValue, std::string(name) + ": expected one of " + list() + ", got " + Describe(v));
    }
    std::string s = v.As<Napi::String>().Utf8Value();
    int i = 0;
    for (const char* a : allowed) {
      if (s == a) return i;
      i++;
    }
    if (s.size() > 32) s = s.substr(0, 32) + "...";
    Throw(env_, kValue, std::string(name) + ": expected one of " + list() + ", got '" + s + "'");
  }

  // A Float32Array of exactly e.value elements; nullptr when optional and undefined/null.
  // Every array returned is remembered in held() (async workers keep a reference to each).
  float* F32(const char* name, const Extent& e, Presence presence) {
    Napi::Value v = Get(name);
    if ((v.IsUndefined() || v.IsNull()) && presence == Presence::Optional) return nullptr;
    CheckTyped(env_, name, v, napi_float32_array, "a Float32Array", e);
    Napi::Float32Array a = v.As<Napi::Float32Array>();
    held_.push_back({name, a});
    float* p = a.Data();
    return p ? p : g_empty_floats;
  }

  // Optional Int32Array `lengths` [batch], each in [0, seqLen]. Copied into *out (so that a later
  // change to the JS array cannot send a kernel out of bounds); *out stays empty when absent.
  void Lengths(const char* name, int64_t batch, int64_t seq_len, std::vector<int32_t>* out,
               const char* batch_name = "batch") const {
    Napi::Value v = Get(name);
    out->clear();
    if (v.IsUndefined() || v.IsNull()) return;
    CheckTyped(env_, name, v, napi_int32_array, "an Int32Array", Extent(batch, batch_name));
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    out->assign(a.Data(), a.Data() + batch);
    for (int64_t b = 0; b < batch; b++) {
      int32_t len = (*out)[b];
      if (len < 0 || len > seq_len) {
        Throw(env_, kValue,
              std::string(name) + ": " + name + "[" + std::to_string(b) + "] = " + std::to_string(len) +
                  " is outside [0, seqLen = " + std::to_string(seq_len) + "]");
      }
    }
  }

  // An Int32Array of exactly e.value elements, COPIED into *out (values that index memory must not
  // change between their check and the kernel: the caller checks the copy, the kernel reads it).
  void Int32Copy(const char* name, const Extent& e, std::vector<int32_t>* out) const {
    Napi::Value v = Get(name);
    out->clear();
    CheckTyped(env_, name, v, napi_int32_array, "an Int32Array", e);
    Napi::Int32Array a = v.As<Napi::Int32Array>();
    if (e.value > 0) out->assign(a.Data(), a.Data() + e.value);
  }

  // Int32Copy of row indices, each checked to be in [0, bound) (bound_name names it in the error).
  void IndexCopy(const char* name, const Extent& e, int64_t bound, const char* bound_name,
                 std::vector<int32_t>* out) const {
    Int32Copy(name, e, out);
    for (size_t i = 0; i < out->size(); i++) {
      if ((*out)[i] < 0 || (int64_t)(*out)[i] >= bound) {
        Throw(env_, kValue,
              std::string(name) + ": " + name + "[" + std::to_string(i) + "] = " + std::to_string((*out)[i]) +
                  " is outside [0, " + bound_name + " = " + std::to_string(bound) + ")");
      }
    }
  }

  // Keeps `a` (argument `name`) referenced while an async call runs (arrays read other than
  // through F32).
  void Hold(std::string name, const Napi::TypedArray& a) { held_.push_back({std::move(name), a}); }

  // An array an async worker must keep referenced, and the argument name its errors use (worker.h).
  struct Held {
    std::string name;
    Napi::TypedArray array;
  };
  const std::vector<Held>& held() const { return held_; }

  // Keeps a plain object (not an array: e.g. a native cache's wrapper) referenced while an async
  // call runs.
  void HoldObject(const Napi::Object& o) { held_objects_.push_back(o); }
  const std::vector<Napi::Object>& held_objects() const { return held_objects_; }

 private:
  Napi::Env env_;
  std::vector<std::pair<const char*, Napi::Value>> values_;
  std::vector<Held> held_;
  std::vector<Napi::Object> held_objects_;
};

// A finite number field in [lo, hi] (each end inclusive or not); undefined or null: dflt.
inline double Real(const Fields& f, const char* name, double dflt, double lo, bool lo_incl, double hi,
                   bool hi_incl) {
  Napi::Value v = f.Get(name);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  auto range = [&] {
    return std::string(lo_incl ? "[" : "(") + NumberText(lo) + ", " + NumberText(hi) + (hi_incl ? "]" : ")");
  };
  if (!v.IsNumber()) {
    Throw(f.Env(), kValue, std::string(name) + ": expected a number in " + range() + ", got " + Describe(v));
  }
  double d = v.As<Napi::Number>().DoubleValue();
  bool ok = std::isfinite(d) && (lo_incl ? d >= lo : d > lo) && (hi_incl ? d <= hi : d < hi);
  if (!ok) {
    Throw(f.Env(), kValue,
          std::string(name) + ": expected a number in " + range() + ", got " + NumberText(d));
  }
  return d;
}

// Every export goes through Guard: a std::exception other than Napi::Error (std::bad_alloc while
// copying arguments) becomes a JS error with code ERR_GATED_NATIVE instead of std::terminate
// (node-addon-api only converts Napi::Error unless NODE_ADDON_API_CPP_EXCEPTIONS_ALL is defined).
template <Napi::Value (*Fn)(const Napi::CallbackInfo&)>
Napi::Value Guard(const Napi::CallbackInfo& info) {
  try {
    return Fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    Throw(info.Env(), kNative, std::string("native error: ") + e.what());
  }
}

}  // namespace gated_binding
