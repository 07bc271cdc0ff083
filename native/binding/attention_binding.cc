// attention_binding.cc: the N-API surface of the fused attention decoder (native/attention.h).
//
//   attnDecoderForward({ seqLen, batch, srcLen, inputSize, memorySize, hiddenSize, attentionSize,
//       numLayers, cell ('lstm' | 'gru' | 'rnn'), resetAfter (gru, default true), nonlinearity (rnn),
//       attention ('dot' | 'general' | 'concat' | 'additive'), inputFeed (boolean, default false),
//       x [T*B*D], memory [S*B*E], srcLengths? Int32Array [B] (each in [1, S]), h0? c0? [L*B*H],
//       feed0? [B*H] (read with inputFeed), layers: Array of L { weightIh [G*H*inW_l], weightHh [G*H*H],
//       biasIh?, biasHh? [G*H] }, attn: { weight?, queryWeight?, queryBias?, keyWeight?, v?,
//       outWeight } (exactly the variant's), keys? [S*B*Kw], keepCache (default true),
//       returnAttention (default true), outputs y [T*B*H], attentionOut [T*B*S] (iff returnAttention;
//       the weights, named so because `attention` is the variant), hN [L*B*H] (may be h0), cN [L*B*H]
//       (lstm; may be c0), keysOut? [S*B*Kw] (not with dot), cache [attnDecoderCacheSize] (iff
//       keepCache), async,
//       the decode step's options (memoryIndex / stateIndex need keepCache false):
//       memoryBatch M (default batch) with memoryIndex? Int32Array [B] (each in [0, M)): memory
//       [S*M*E], srcLengths [M], keys / keysOut [S*M*Kw], row b attends to column memoryIndex[b];
//       stateRows P (default batch) with stateIndex? Int32Array [B] (each in [0, P)): h0 / c0
//       [L*P*H], feed0 [P*H], row b starts from state row stateIndex[b] (a beam's reorder);
//       vocabSize V with vocabWeight [V*H], vocabBias? [V], logProbsOut [T*B*V]: the output
//       layer's log_softmax(y vocabWeight^T + vocabBias) per row })
//   attnDecoderBackward({ the same sizes and options, memory, srcLengths?, layers, attn, cache
//       (required), dy? [T*B*H], dhN? dcN? [L*B*H], dFeedN? [B*H], outputs dx [T*B*D], dMemory
//       [S*B*E], dh0 [L*B*H], dc0 [L*B*H] (lstm), dFeed0 [B*H], dLayers: Array of L { dWeightIh,
//       dWeightHh, dBiasIh (iff biasIh), dBiasHh (iff biasHh) }, dAttn: { the variant's d<Name>
//       (dWeight, dQueryWeight, dQueryBias, dKeyWeight, dV, dOutWeight) }, async })
//   attnDecoderCacheSize({ the sizes and options }) -> number of floats of the cache.
// Sizes: seqLen, batch, srcLen, memorySize, hiddenSize, numLayers >= 1 (numLayers <= 64); inputSize
// >= 0; attentionSize >= 1 for concat / additive (optional, unused, for dot / general); dot needs
// memorySize == hiddenSize. G = 4 lstm, 3 gru, 1 rnn; inW_0 = D + (inputFeed ? H : 0), inW_l = H; Kw = H
// general, A concat / additive. Outputs must not overlap each other or any input, except hN / cN, which may
// be h0 / c0 exactly (they are read first). Errors: code ERR_GATED_SHAPE / ERR_GATED_VALUE /
// ERR_GATED_NATIVE, message
// "<argument>: ..." (args.h; nested arrays are named "layers[1].weightHh", "attn.v"), thrown before
// anything runs or is queued. Reading follows args.h's two phases: every property, nested ones
// included, is read before any is checked.
#include "attention_binding.h"

#include <napi.h>
#include <stdint.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "attention.h"
#include "worker.h"

namespace gated_binding {
namespace {

constexpr int64_t kMaxLayers = gated::AttnCacheLayout::kMaxLayers;
const char* const kLayerFields[] = {"weightIh", "weightHh", "biasIh", "biasHh"};
const char* const kAttnFields[] = {"weight", "queryWeight", "queryBias", "keyWeight", "v", "outWeight"};
const char* const kDLayerFields[] = {"dWeightIh", "dWeightHh", "dBiasIh", "dBiasHh"};
const char* const kDAttnFields[] = {"dWeight",    "dQueryWeight", "dQueryBias",
                                    "dKeyWeight", "dV",           "dOutWeight"};

bool Nullish(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

// Phase 1 for a nested object: its properties `names` (n of them), read once.
std::vector<Napi::Value> ReadObject(const Fields& f, const std::string& field, const Napi::Value& v,
                                    const char* const* names, int n) {
  if (!v.IsObject() || v.IsArray() || v.IsTypedArray()) {
    Throw(f.Env(), kValue, field + ": expected an object, got " + Describe(v));
  }
  Napi::Object o = v.As<Napi::Object>();
  std::vector<Napi::Value> out;
  for (int i = 0; i < n; i++) out.push_back(o.Get(names[i]));  // may run user code
  return out;
}

// Phase 1 for an Array of `count` objects with properties `names`.
std::vector<std::vector<Napi::Value>> ReadObjects(const Fields& f, const char* field, int64_t count,
                                                  const char* const* names, int n) {
  Napi::Value v = f.Get(field);
  if (!v.IsArray()) {
    Throw(f.Env(), kValue,
          std::string(field) + ": expected an Array of numLayers (" + std::to_string(count) +
              ") objects, got " + Describe(v));
  }
  Napi::Array arr = v.As<Napi::Array>();
  const uint32_t len = arr.Length();
  if ((int64_t)len != count) {
    Throw(f.Env(), kShape,
          std::string(field) + ": expected an Array of numLayers (" + std::to_string(count) +
              ") objects, got length " + std::to_string(len));
  }
  std::vector<std::vector<Napi::Value>> out;
  for (uint32_t i = 0; i < len; i++) {
    const std::string name = std::string(field) + "[" + std::to_string(i) + "]";
    out.push_back(ReadObject(f, name, arr.Get(i), names, n));
  }
  return out;
}

// Phase 2 for a nested Float32Array (args.h's Fields::F32 for a value read in phase 1).
float* F32Value(Fields& f, const std::string& name, const Napi::Value& v, const Extent& e, Presence p) {
  if (Nullish(v) && p == Presence::Optional) return nullptr;
  CheckTyped(f.Env(), name.c_str(), v, napi_float32_array, "a Float32Array", e);
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  f.Hold(name, a);
  float* ptr = a.Data();
  return ptr ? ptr : g_empty_floats;
}

void AbsentValue(const Fields& f, const std::string& name, const Napi::Value& v, const std::string& why) {
  if (!Nullish(v)) Throw(f.Env(), kValue, name + ": " + why + ", got " + Describe(v));
}
void Absent(const Fields& f, const char* name, const std::string& why) {
  AbsentValue(f, name, f.Get(name), why);
}

// A size that must be at least `lo`.
int64_t SizeAtLeast(const Fields& f, const char* name, int64_t lo) {
  const int64_t v = f.Size(name);
  if (v < lo) {
    Throw(f.Env(), kValue,
          std::string(name) + ": expected at least " + std::to_string(lo) + ", got " + std::to_string(v));
  }
  return v;
}

// The sizes and options (shared by the three exports).
gated::AttnSizes ReadSizes(const Fields& f) {
  Napi::Env env = f.Env();
  gated::AttnSizes z{};
  z.T = SizeAtLeast(f, "seqLen", 1);
  z.B = SizeAtLeast(f, "batch", 1);
  z.S = SizeAtLeast(f, "srcLen", 1);
  z.D = f.Size("inputSize");
  z.E = SizeAtLeast(f, "memorySize", 1);
  z.H = SizeAtLeast(f, "hiddenSize", 1);
  z.L = SizeAtLeast(f, "numLayers", 1);
  if (z.L > kMaxLayers) {
    Throw(env, kValue,
          "numLayers: expected at most " + std::to_string(kMaxLayers) + ", got " + std::to_string(z.L));
  }
  const int kind = f.Enum("cell", {"lstm", "gru", "rnn"});
  if (kind == 0) {
    z.cell = gated::AttnCell::Lstm;
  } else if (kind == 1) {
    z.cell = f.Bool("resetAfter", true) ? gated::AttnCell::GruResetAfter : gated::AttnCell::GruResetBefore;
  } else {
    z.cell =
        f.Enum("nonlinearity", {"tanh", "relu"}) == 1 ? gated::AttnCell::RnnRelu : gated::AttnCell::RnnTanh;
  }
  if (kind != 1) Absent(f, "resetAfter", "only a gru takes resetAfter");
  if (kind != 2) Absent(f, "nonlinearity", "only an rnn takes nonlinearity");
  z.kind = (gated::AttnKind)f.Enum("attention", {"dot", "general", "concat", "additive"});
  z.input_feed = f.Bool("inputFeed", false);
  // attentionSize: required (>= 1) by concat / additive; optional (ignored) for dot / general.
  if (z.kind == gated::AttnKind::Concat || z.kind == gated::AttnKind::Additive) {
    z.A = SizeAtLeast(f, "attentionSize", 1);
  } else {
    const Napi::Value a = f.Get("attentionSize");
    z.A = Nullish(a) ? 0 : Fields::SizeValue(env, "attentionSize", a);
  }
  if (z.kind == gated::AttnKind::Dot && z.E != z.H) {
    Throw(env, kValue,
          "memorySize: expected hiddenSize (" + std::to_string(z.H) + ") with attention 'dot', got " +
              std::to_string(z.E));
  }
  // Every block of the cache (and every workspace array of the kernel) is bounded.
  const Factor R{"seqLen*batch", z.T * z.B}, Hf{"hiddenSize", z.H};
  Product(env, "seqLen", {{"seqLen", z.T}, {"batch", z.B}});
  Product(env, "cache", {R, {"gates", gated::attn_gates(z.cell)}, Hf, {"numLayers", z.L}, {nullptr, 2}});
  Product(env, "cache", {R, {"inputSize+hiddenSize", z.D + z.H}});
  Product(env, "cache", {R, {"srcLen", z.S}});
  Product(env, "cache", {R, {"memorySize+hiddenSize", z.E + z.H}});
  Product(env, "cache", {R, {"attentionSize", z.A}});
  Product(env, "keys", {{"srcLen", z.S}, {"batch", z.B}, {"width", z.H > z.A ? z.H : z.A}});
  Product(env, "memory", {{"srcLen", z.S}, {"batch", z.B}, {"memorySize", z.E}});
  const int64_t total = gated::attn_cache_floats(z);
  if (total > kMaxElements) {
    Throw(env, kShape,
          "cache: its size " + std::to_string(total) + " exceeds the limit of " +
              std::to_string(kMaxElements) + " elements");
  }
  return z;
}

// Which attn weights a variant has, and their extents.
struct AttnSpec {
  bool has[6];
  Extent ext[6];
};
AttnSpec Spec(Napi::Env env, const gated::AttnSizes& z, const char* const* names, const std::string& prefix) {
  const Factor H{"hiddenSize", z.H}, E{"memorySize", z.E}, A{"attentionSize", z.A};
  const Factor HE{"hiddenSize+memorySize", z.H + z.E}, EH{"memorySize+hiddenSize", z.E + z.H};
  AttnSpec s{};
  for (int i = 0; i < 6; i++) s.ext[i] = Extent{0, ""};
  const std::string n0 = prefix + names[0], n1 = prefix + names[1], n2 = prefix + names[2],
                    n3 = prefix + names[3], n4 = prefix + names[4], n5 = prefix + names[5];
  if (z.kind == gated::AttnKind::General) {
    s.has[0] = true;
    s.ext[0] = Product(env, n0.c_str(), {H, E});
  } else if (z.kind == gated::AttnKind::Concat) {
    s.has[0] = true;
    s.ext[0] = Product(env, n0.c_str(), {A, HE});
  } else if (z.kind == gated::AttnKind::Additive) {
    s.has[1] = s.has[2] = s.has[3] = true;
    s.ext[1] = Product(env, n1.c_str(), {A, H});
    s.ext[2] = Product(env, n2.c_str(), {A});
    s.ext[3] = Product(env, n3.c_str(), {A, E});
  }
  if (z.kind == gated::AttnKind::Concat || z.kind == gated::AttnKind::Additive) {
    s.has[4] = true;
    s.ext[4] = Product(env, n4.c_str(), {A});
  }
  s.has[5] = true;
  s.ext[5] = Product(env, n5.c_str(), {H, EH});
  return s;
}

const char* KindName(gated::AttnKind k) {
  switch (k) {
    case gated::AttnKind::Dot:
      return "dot";
    case gated::AttnKind::General:
      return "general";
    case gated::AttnKind::Concat:
      return "concat";
    default:
      return "additive";
  }
}

// The layer weights and attn weights (phase 2 over the values read in phase 1).
void ReadWeights(Fields& f, const gated::AttnSizes& z, const std::vector<std::vector<Napi::Value>>& lv,
                 const std::vector<Napi::Value>& av, std::vector<gated::AttnLayerWeights>* layers,
                 gated::AttnWeights* w) {
  Napi::Env env = f.Env();
  const Factor G{nullptr, gated::attn_gates(z.cell)}, H{"hiddenSize", z.H};
  layers->assign((size_t)z.L, gated::AttnLayerWeights{});
  for (int64_t l = 0; l < z.L; l++) {
    const std::string p = "layers[" + std::to_string(l) + "].";
    const Factor In{l == 0 ? (z.input_feed ? "inputSize+hiddenSize" : "inputSize") : "hiddenSize",
                    z.in_width(l)};
    gated::AttnLayerWeights& lw = (*layers)[l];
    lw.w_ih = F32Value(f, p + "weightIh", lv[l][0], Product(env, (p + "weightIh").c_str(), {G, H, In}),
                       Presence::Required);
    lw.w_hh = F32Value(f, p + "weightHh", lv[l][1], Product(env, (p + "weightHh").c_str(), {G, H, H}),
                       Presence::Required);
    lw.b_ih =
        F32Value(f, p + "biasIh", lv[l][2], Product(env, (p + "biasIh").c_str(), {G, H}), Presence::Optional);
    lw.b_hh =
        F32Value(f, p + "biasHh", lv[l][3], Product(env, (p + "biasHh").c_str(), {G, H}), Presence::Optional);
  }
  const AttnSpec s = Spec(env, z, kAttnFields, "attn.");
  const float* ptr[6];
  for (int i = 0; i < 6; i++) {
    const std::string name = std::string("attn.") + kAttnFields[i];
    if (s.has[i])
      ptr[i] = F32Value(f, name, av[i], s.ext[i], Presence::Required);
    else {
      AbsentValue(f, name, av[i], std::string("attention '") + KindName(z.kind) + "' does not use it");
      ptr[i] = nullptr;
    }
  }
  *w = gated::AttnWeights{ptr[0], ptr[1], ptr[2], ptr[3], ptr[4], ptr[5]};
}

struct Span {
  std::string name;
  const void* p;
  int64_t bytes;
};
bool Overlap(const Span& a, const Span& b) {
  if (!a.p || !b.p || a.bytes <= 0 || b.bytes <= 0) return false;
  const char *a0 = (const char*)a.p, *b0 = (const char*)b.p;
  return a0 < b0 + b.bytes && b0 < a0 + a.bytes;
}
// No output overlaps another output or an input, except the allowed exact aliases (same start, same
// size: hN = h0, cN = c0).
void CheckOverlaps(Napi::Env env, const std::vector<Span>& outs, const std::vector<Span>& ins,
                   const std::vector<std::pair<std::string, std::string>>& alias) {
  for (size_t i = 0; i < outs.size(); i++) {
    for (size_t j = i + 1; j < outs.size(); j++)
      if (Overlap(outs[i], outs[j])) Throw(env, kValue, outs[j].name + ": must not overlap " + outs[i].name);
    for (const Span& r : ins) {
      if (!Overlap(outs[i], r)) continue;
      bool ok = false;
      for (const auto& a : alias)
        if (a.first == outs[i].name && a.second == r.name && outs[i].p == r.p && outs[i].bytes == r.bytes)
          ok = true;
      if (!ok) Throw(env, kValue, outs[i].name + ": must not overlap " + r.name);
    }
  }
}

void WeightSpans(const gated::AttnSizes& z, const std::vector<gated::AttnLayerWeights>& layers,
                 const gated::AttnWeights& w, std::vector<Span>* ins) {
  const int64_t fs = sizeof(float), G = gated::attn_gates(z.cell), H = z.H, E = z.E, A = z.A;
  for (int64_t l = 0; l < z.L; l++) {
    const std::string p = "layers[" + std::to_string(l) + "].";
    ins->push_back({p + "weightIh", layers[l].w_ih, G * H * z.in_width(l) * fs});
    ins->push_back({p + "weightHh", layers[l].w_hh, G * H * H * fs});
    ins->push_back({p + "biasIh", layers[l].b_ih, G * H * fs});
    ins->push_back({p + "biasHh", layers[l].b_hh, G * H * fs});
  }
  const int64_t wsz = z.kind == gated::AttnKind::General ? H * E : A * (H + E);
  ins->push_back({"attn.weight", w.weight, wsz * fs});
  ins->push_back({"attn.queryWeight", w.query_weight, A * H * fs});
  ins->push_back({"attn.queryBias", w.query_bias, A * fs});
  ins->push_back({"attn.keyWeight", w.key_weight, A * E * fs});
  ins->push_back({"attn.v", w.v, A * fs});
  ins->push_back({"attn.outWeight", w.out_weight, H * (E + H) * fs});
}

// srcLengths: optional Int32Array [cols] (cols: batch, or memoryBatch), each in [1, S]; copied.
void SrcLengths(const Fields& f, const gated::AttnSizes& z, int64_t cols, const char* cols_name,
                std::vector<int32_t>* out) {
  f.Lengths("srcLengths", cols, z.S, out, cols_name);
  for (size_t b = 0; b < out->size(); b++)
    if ((*out)[b] < 1)
      Throw(f.Env(), kValue,
            "srcLengths: srcLengths[" + std::to_string(b) + "] = " + std::to_string((*out)[b]) +
                " is outside [1, srcLen = " + std::to_string(z.S) + "]");
}

struct ForwardJob final : Job {
  gated::AttnForwardArgs a{};
  std::vector<gated::AttnLayerWeights> layers;
  std::vector<int32_t> lens, memory_index, state_index;
  void Run() override {
    a.layers = layers.data();
    a.src_lengths = lens.empty() ? nullptr : lens.data();
    a.memory_index = memory_index.empty() ? nullptr : memory_index.data();
    a.state_index = state_index.empty() ? nullptr : state_index.data();
    gated::attn_decoder_forward(a);
  }
};

struct BackwardJob final : Job {
  gated::AttnBackwardArgs a{};
  std::vector<gated::AttnLayerWeights> layers;
  std::vector<gated::AttnLayerGrads> dlayers;
  std::vector<int32_t> lens;
  void Run() override {
    a.layers = layers.data();
    a.dlayers = dlayers.data();
    a.src_lengths = lens.empty() ? nullptr : lens.data();
    gated::attn_decoder_backward(a);
  }
};

#define ATTN_SIZE_FIELDS                                                                              \
  "seqLen", "batch", "srcLen", "inputSize", "memorySize", "hiddenSize", "attentionSize", "numLayers", \
      "cell", "resetAfter", "nonlinearity", "attention", "inputFeed"

Napi::Value Forward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {ATTN_SIZE_FIELDS,
            "x",
            "memory",
            "srcLengths",
            "h0",
            "c0",
            "feed0",
            "layers",
            "attn",
            "keys",
            "keepCache",
            "returnAttention",
            "y",
            "attentionOut",
            "hN",
            "cN",
            "keysOut",
            "cache",
            "memoryBatch",
            "memoryIndex",
            "stateRows",
            "stateIndex",
            "vocabSize",
            "vocabWeight",
            "vocabBias",
            "logProbsOut",
            "async"});
  const gated::AttnSizes z = ReadSizes(f);
  // Phase 1 for the nested objects (before any array is checked).
  const auto lv = ReadObjects(f, "layers", z.L, kLayerFields, 4);
  const auto av = ReadObject(f, "attn", f.Get("attn"), kAttnFields, 6);

  auto job = std::make_unique<ForwardJob>();
  gated::AttnForwardArgs& a = job->a;
  a.z = z;
  ReadWeights(f, z, lv, av, &job->layers, &a.w);
  const bool lstm = z.cell == gated::AttnCell::Lstm;
  const int64_t Kw = z.key_width();
  const Factor T{"seqLen", z.T}, B{"batch", z.B}, S{"srcLen", z.S}, D{"inputSize", z.D}, E{"memorySize", z.E},
      H{"hiddenSize", z.H}, L{"numLayers", z.L},
      K{z.kind == gated::AttnKind::General ? "hiddenSize" : "attentionSize", Kw};
  const bool keep = f.Bool("keepCache", true), ret = f.Bool("returnAttention", true);
  // The decode step's gathers: the memory's M columns (memoryIndex: row -> column) and the P state
  // rows (stateIndex: row -> state row). Without an index the count must be batch.
  const auto gather = [&](const char* count, const char* index, std::vector<int32_t>* out) {
    const bool indexed = !Nullish(f.Get(index));
    const int64_t n = f.SizeOr(count, z.B);
    if (n < 1) Throw(env, kValue, std::string(count) + ": expected at least 1, got " + std::to_string(n));
    if (!indexed && n != z.B) {
      Throw(env, kValue,
            std::string(count) + ": expected batch (" + std::to_string(z.B) + ") without a " + index +
                ", got " + std::to_string(n));
    }
    if (indexed) {
      if (keep) Throw(env, kValue, std::string(index) + ": a decode step's option: expected keepCache false");
      f.IndexCopy(index, Product(env, index, {B}), n, count, out);
    }
    return n;
  };
  const int64_t M = gather("memoryBatch", "memoryIndex", &job->memory_index);
  const int64_t P = gather("stateRows", "stateIndex", &job->state_index);
  a.mem_cols = M;
  a.state_rows = P;
  // Extents name batch unless an index makes the count its own.
  const Factor Mf{job->memory_index.empty() ? "batch" : "memoryBatch", M},
      Pf{job->state_index.empty() ? "batch" : "stateRows", P};
  a.x = f.F32("x", Product(env, "x", {T, B, D}), Presence::Required);
  a.memory = f.F32("memory", Product(env, "memory", {S, Mf, E}), Presence::Required);
  SrcLengths(f, z, M, Mf.name, &job->lens);
  a.h0 = f.F32("h0", Product(env, "h0", {L, Pf, H}), Presence::Optional);
  if (lstm)
    a.c0 = f.F32("c0", Product(env, "c0", {L, Pf, H}), Presence::Optional);
  else
    Absent(f, "c0", "only an lstm has a cell state");
  // feed0 is checked whatever inputFeed (a decode loop may carry it either way); read only with it.
  a.feed0 = f.F32("feed0", Product(env, "feed0", {Pf, H}), Presence::Optional);
  if (Kw > 0) {
    a.keys = f.F32("keys", Product(env, "keys", {S, Mf, K}), Presence::Optional);
    if (!a.keys)
      a.keys_out = f.F32("keysOut", Product(env, "keysOut", {S, Mf, K}), Presence::Optional);
    else
      Absent(f, "keysOut", "expected no keysOut when keys are given");
  } else {
    Absent(f, "keys", "attention 'dot' has no keys");
    Absent(f, "keysOut", "attention 'dot' has no keys");
  }
  a.y = f.F32("y", Product(env, "y", {T, B, H}), Presence::Required);
  if (ret)
    a.attention = f.F32("attentionOut", Product(env, "attentionOut", {T, B, S}), Presence::Required);
  else
    Absent(f, "attentionOut", "expected none with returnAttention false");
  a.h_n = f.F32("hN", Product(env, "hN", {L, B, H}), Presence::Required);
  if (lstm)
    a.c_n = f.F32("cN", Product(env, "cN", {L, B, H}), Presence::Required);
  else
    Absent(f, "cN", "only an lstm has a cell state");
  const int64_t cache_floats = gated::attn_cache_floats(z);
  if (keep)
    a.cache = f.F32("cache", Extent{cache_floats, "attnDecoderCacheSize(sizes)"}, Presence::Required);
  else
    Absent(f, "cache", "expected none with keepCache false");
  // The output layer: logProbsOut = log_softmax(y vocabWeight^T + vocabBias) per row.
  const int64_t V = f.SizeOr("vocabSize", 0);
  a.V = V;
  if (V > 0) {
    const Factor Vf{"vocabSize", V};
    a.vocab_weight = f.F32("vocabWeight", Product(env, "vocabWeight", {Vf, H}), Presence::Required);
    a.vocab_bias = f.F32("vocabBias", Product(env, "vocabBias", {Vf}), Presence::Optional);
    a.log_probs = f.F32("logProbsOut", Product(env, "logProbsOut", {T, B, Vf}), Presence::Required);
  } else {
    Absent(f, "vocabWeight", "expected none without a vocabSize");
    Absent(f, "vocabBias", "expected none without a vocabSize");
    Absent(f, "logProbsOut", "expected none without a vocabSize");
  }

  const int64_t fs = sizeof(float), TB = z.T * z.B, LBH = z.L * z.B * z.H, LPH = z.L * P * z.H;
  std::vector<Span> ins = {{"x", a.x, TB * z.D * fs},
                           {"memory", a.memory, z.S * M * z.E * fs},
                           {"h0", a.h0, LPH * fs},
                           {"c0", a.c0, LPH * fs},
                           {"feed0", a.feed0, P * z.H * fs},
                           {"keys", a.keys, z.S * M * Kw * fs},
                           {"vocabWeight", a.vocab_weight, V * z.H * fs},
                           {"vocabBias", a.vocab_bias, V * fs}};
  WeightSpans(z, job->layers, a.w, &ins);
  const std::vector<Span> outs = {{"y", a.y, TB * z.H * fs},
                                  {"attentionOut", a.attention, TB * z.S * fs},
                                  {"hN", a.h_n, LBH * fs},
                                  {"cN", a.c_n, LBH * fs},
                                  {"keysOut", a.keys_out, z.S * M * Kw * fs},
                                  {"cache", a.cache, cache_floats * fs},
                                  {"logProbsOut", a.log_probs, TB * V * fs}};
  CheckOverlaps(env, outs, ins, {{"hN", "h0"}, {"cN", "c0"}});
  const bool async = f.Bool("async", false);
  return Dispatch(f, "attnDecoderForward", std::move(job), async);
}

Napi::Value Backward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0],
           {ATTN_SIZE_FIELDS, "memory", "srcLengths", "layers", "attn", "cache", "dy", "dhN", "dcN", "dFeedN",
            "dx", "dMemory", "dh0", "dc0", "dFeed0", "dLayers", "dAttn", "async"});
  const gated::AttnSizes z = ReadSizes(f);
  const auto lv = ReadObjects(f, "layers", z.L, kLayerFields, 4);
  const auto av = ReadObject(f, "attn", f.Get("attn"), kAttnFields, 6);
  const auto dlv = ReadObjects(f, "dLayers", z.L, kDLayerFields, 4);
  const auto dav = ReadObject(f, "dAttn", f.Get("dAttn"), kDAttnFields, 6);

  auto job = std::make_unique<BackwardJob>();
  gated::AttnBackwardArgs& a = job->a;
  a.z = z;
  ReadWeights(f, z, lv, av, &job->layers, &a.w);
  const bool lstm = z.cell == gated::AttnCell::Lstm;
  const Factor T{"seqLen", z.T}, B{"batch", z.B}, S{"srcLen", z.S}, D{"inputSize", z.D}, E{"memorySize", z.E},
      H{"hiddenSize", z.H}, L{"numLayers", z.L}, G{nullptr, gated::attn_gates(z.cell)};
  a.memory = f.F32("memory", Product(env, "memory", {S, B, E}), Presence::Required);
  SrcLengths(f, z, z.B, "batch", &job->lens);
  const int64_t cache_floats = gated::attn_cache_floats(z);
  a.cache = f.F32("cache", Extent{cache_floats, "attnDecoderCacheSize(sizes)"}, Presence::Required);
  a.dy = f.F32("dy", Product(env, "dy", {T, B, H}), Presence::Optional);
  a.dh_n = f.F32("dhN", Product(env, "dhN", {L, B, H}), Presence::Optional);
  if (lstm)
    a.dc_n = f.F32("dcN", Product(env, "dcN", {L, B, H}), Presence::Optional);
  else
    Absent(f, "dcN", "only an lstm has a cell state");
  a.dfeed_n = f.F32("dFeedN", Product(env, "dFeedN", {B, H}), Presence::Optional);
  a.dx = f.F32("dx", Product(env, "dx", {T, B, D}), Presence::Required);
  a.d_memory = f.F32("dMemory", Product(env, "dMemory", {S, B, E}), Presence::Required);
  a.dh0 = f.F32("dh0", Product(env, "dh0", {L, B, H}), Presence::Required);
  if (lstm)
    a.dc0 = f.F32("dc0", Product(env, "dc0", {L, B, H}), Presence::Required);
  else
    Absent(f, "dc0", "only an lstm has a cell state");
  a.dfeed0 = f.F32("dFeed0", Product(env, "dFeed0", {B, H}), Presence::Required);
  job->dlayers.assign((size_t)z.L, gated::AttnLayerGrads{});
  const int64_t fs = sizeof(float), TB = z.T * z.B, LBH = z.L * z.B * z.H,
                GH = gated::attn_gates(z.cell) * z.H;
  std::vector<Span> outs = {{"dx", a.dx, TB * z.D * fs},
                            {"dMemory", a.d_memory, z.S * z.B * z.E * fs},
                            {"dh0", a.dh0, LBH * fs},
                            {"dc0", a.dc0, LBH * fs},
                            {"dFeed0", a.dfeed0, z.B * z.H * fs}};
  for (int64_t l = 0; l < z.L; l++) {
    const std::string p = "dLayers[" + std::to_string(l) + "].";
    const Factor In{l == 0 ? (z.input_feed ? "inputSize+hiddenSize" : "inputSize") : "hiddenSize",
                    z.in_width(l)};
    gated::AttnLayerGrads& g = job->dlayers[l];
    g.dw_ih = F32Value(f, p + "dWeightIh", dlv[l][0], Product(env, (p + "dWeightIh").c_str(), {G, H, In}),
                       Presence::Required);
    g.dw_hh = F32Value(f, p + "dWeightHh", dlv[l][1], Product(env, (p + "dWeightHh").c_str(), {G, H, H}),
                       Presence::Required);
    const Extent be = Product(env, (p + "dBiasIh").c_str(), {G, H});
    if (job->layers[l].b_ih)
      g.db_ih = F32Value(f, p + "dBiasIh", dlv[l][2], be, Presence::Required);
    else
      AbsentValue(f, p + "dBiasIh", dlv[l][2],
                  "expected none: layers[" + std::to_string(l) + "].biasIh is null");
    if (job->layers[l].b_hh)
      g.db_hh = F32Value(f, p + "dBiasHh", dlv[l][3], be, Presence::Required);
    else
      AbsentValue(f, p + "dBiasHh", dlv[l][3],
                  "expected none: layers[" + std::to_string(l) + "].biasHh is null");
    outs.push_back({p + "dWeightIh", g.dw_ih, GH * z.in_width(l) * fs});
    outs.push_back({p + "dWeightHh", g.dw_hh, GH * z.H * fs});
    outs.push_back({p + "dBiasIh", g.db_ih, GH * fs});
    outs.push_back({p + "dBiasHh", g.db_hh, GH * fs});
  }
  const AttnSpec s = Spec(env, z, kDAttnFields, "dAttn.");
  float* dp[6];
  for (int i = 0; i < 6; i++) {
    const std::string name = std::string("dAttn.") + kDAttnFields[i];
    if (s.has[i])
      dp[i] = F32Value(f, name, dav[i], s.ext[i], Presence::Required);
    else {
      AbsentValue(f, name, dav[i], std::string("attention '") + KindName(z.kind) + "' does not use it");
      dp[i] = nullptr;
    }
    outs.push_back({name, dp[i], s.ext[i].value * fs});
  }
  a.dattn = gated::AttnGrads{dp[0], dp[1], dp[2], dp[3], dp[4], dp[5]};
  std::vector<Span> ins = {{"memory", a.memory, z.S * z.B * z.E * fs},
                           {"cache", a.cache, cache_floats * fs},
                           {"dy", a.dy, TB * z.H * fs},
                           {"dhN", a.dh_n, LBH * fs},
                           {"dcN", a.dc_n, LBH * fs},
                           {"dFeedN", a.dfeed_n, z.B * z.H * fs}};
  WeightSpans(z, job->layers, a.w, &ins);
  CheckOverlaps(env, outs, ins, {});
  const bool async = f.Bool("async", false);
  return Dispatch(f, "attnDecoderBackward", std::move(job), async);
}

Napi::Value CacheSize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Fields f(env, info[0], {ATTN_SIZE_FIELDS});
  const gated::AttnSizes z = ReadSizes(f);
  return Napi::Number::New(env, (double)gated::attn_cache_floats(z));
}

}  // namespace

void RegisterAttentionOps(Napi::Env env, Napi::Object exports) {
  exports.Set("attnDecoderForward", Napi::Function::New(env, Guard<Forward>, "attnDecoderForward"));
  exports.Set("attnDecoderBackward", Napi::Function::New(env, Guard<Backward>, "attnDecoderBackward"));
  exports.Set("attnDecoderCacheSize", Napi::Function::New(env, Guard<CacheSize>, "attnDecoderCacheSize"));
}

}  // namespace gated_binding
