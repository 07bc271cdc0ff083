// Fuzz child: thousands of random, mostly malformed calls straight to the raw addon exports.
//
//   node --expose-gc test/fuzz/child.mjs [calls=12000] [seed=1]
//
// Loads build/ (or prebuilds/) through node-gyp-build, or the file named by GATED_ADDON_PATH (CI runs
// this against the ASan+UBSan build). Every call starts from a valid argument object and applies 0-3
// random mutations (wrong types, missing fields, NaN / negative / fractional / huge sizes, sizes whose
// product overflows, arrays one element short or long, lengths out of range, detached buffers,
// Float64Array instead of Float32Array, getters that throw or detach another field's buffer, Proxy
// argument objects, async variants). The addon's nn / train / jordan / step ops get the same treatment, sync
// and async (`async: true`): valid argument objects for each op, mutated; async calls that were
// queued then have their ids / targets / lengths overwritten with out-of-range values (the addon
// copied them, so the kernel must not notice). Every throw and rejection is caught and classified;
// the process must neither crash nor see an error without a gated code. The last line printed is
//   FUZZ_SUMMARY {"calls":...,"unexpected":0,...}
// and the exit status is 0 when nothing unexpected happened, 1 otherwise.
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const addon = process.env.GATED_ADDON_PATH ? require(resolve(process.env.GATED_ADDON_PATH)) : require('node-gyp-build')(root);

// The addon's ops are flat exports; the families fuzzed together, each op under its short name.
const flat = (names) => Object.fromEntries(names.map(([short, name]) => [short, addon[name]]).filter(([, f]) => typeof f === 'function'));
const parts = {
  train: flat(
    ['softmaxCrossEntropy', 'bceWithLogits', 'mse', 'sgdStep', 'adamStep', 'rmspropStep', 'clipGradNorm', 'clipGradValue'].map((n) => [
      n,
      n,
    ]),
  ),
  nn: flat(['linearForward', 'linearBackward', 'embeddingForward', 'embeddingBackward'].map((n) => [n, n])),
  jordan: flat([
    ['forward', 'jordanForward'],
    ['backward', 'jordanBackward'],
  ]),
  step: flat([
    ['forward', 'stepForward'],
    ['cacheInfo', 'stepCacheInfo'],
    ['createCache', 'stepCreateCache'],
  ]),
};

const CALLS = Number(process.argv[2] ?? 12000);
const SEED = Number(process.argv[3] ?? 1);

// mulberry32
let state = SEED >>> 0;
function rand() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const int = (lo, hi) => lo + Math.floor(rand() * (hi - lo + 1)); // inclusive
const pick = (xs) => xs[Math.floor(rand() * xs.length)];
const chance = (p) => rand() < p;

const USER_ERROR = 'fuzz: deliberate getter error';
const CODES = new Set(['ERR_GATED_SHAPE', 'ERR_GATED_VALUE']);

function f32(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = rand() * 2 - 1;
  return a;
}
function detached(Ctor, n) {
  const buf = new ArrayBuffer(n * Ctor.BYTES_PER_ELEMENT);
  const view = new Ctor(buf);
  structuredClone(buf, { transfer: [buf] });
  return view;
}
function offsetView(n) {
  // A valid Float32Array that does not start at its buffer's beginning.
  const off = int(1, 3);
  const big = f32(n + off + 2);
  return new Float32Array(big.buffer, off * 4, n);
}

const OPS = {
  rnnForward: { G: 1, W: 2, backward: false, lstm: false, extra: 'nonlinearity' },
  rnnBackward: { G: 1, W: 2, backward: true, lstm: false, extra: 'nonlinearity' },
  lstmForward: { G: 4, W: 8, backward: false, lstm: true, extra: null },
  lstmBackward: { G: 4, W: 8, backward: true, lstm: true, extra: null },
  gruForward: { G: 3, W: 5, backward: false, lstm: false, extra: 'resetAfter' },
  gruBackward: { G: 3, W: 5, backward: true, lstm: false, extra: 'resetAfter' },
};
const SIZES = ['seqLen', 'batch', 'inputSize', 'hiddenSize'];

// A valid argument object for `op` (sizes >= 1, so that any huge size makes some array mismatch and
// no kernel ever runs on an enormous shape).
function validArgs(op) {
  const { G, W, backward, lstm, extra } = OPS[op];
  const T = int(1, 4),
    B = int(1, 3),
    D = int(1, 4),
    H = int(1, 4);
  const a = { seqLen: T, batch: B, inputSize: D, hiddenSize: H };
  a.x = f32(T * B * D);
  a.weightIh = f32(G * H * D);
  a.weightHh = f32(G * H * H);
  if (chance(0.6)) a.biasIh = f32(G * H);
  if (chance(0.6)) a.biasHh = f32(G * H);
  if (chance(0.5)) a.h0 = f32(B * H);
  if (chance(0.5)) a.lengths = Int32Array.from({ length: B }, () => int(0, T));
  if (chance(0.3)) a.reverse = chance(0.5);
  if (extra === 'nonlinearity' && chance(0.5)) a.nonlinearity = pick(['tanh', 'relu']);
  if (extra === 'resetAfter' && chance(0.5)) a.resetAfter = chance(0.5);
  if (lstm) {
    if (chance(0.5)) a.c0 = f32(B * H);
    if (chance(0.4)) a.weightPeephole = f32(3 * H);
  }
  if (!backward) {
    a.y = f32(T * B * H);
    a.hN = f32(B * H);
    a.cache = f32(W * T * B * H);
    if (lstm) a.cN = f32(B * H);
  } else {
    a.cache = f32(W * T * B * H);
    if (chance(0.7)) a.dy = f32(T * B * H);
    if (chance(0.7)) a.dhN = f32(B * H);
    a.dx = f32(T * B * D);
    a.dh0 = f32(B * H);
    a.dWeightIh = f32(G * H * D);
    a.dWeightHh = f32(G * H * H);
    if (chance(0.6)) a.dBiasIh = f32(G * H);
    if (chance(0.6)) a.dBiasHh = f32(G * H);
    if (lstm) {
      if (chance(0.7)) a.dcN = f32(B * H);
      a.dc0 = f32(B * H);
      if (a.weightPeephole || chance(0.3)) a.dWeightPeephole = f32(3 * H);
    }
  }
  if (chance(0.1)) a.x = offsetView(T * B * D);
  return a;
}

const JUNK = () => [
  undefined,
  null,
  NaN,
  -1,
  -0,
  1.5,
  Infinity,
  -Infinity,
  2 ** 31,
  2 ** 31 - 1,
  2 ** 53,
  2 ** 64,
  0,
  '3',
  'tanh',
  '',
  true,
  false,
  {},
  [],
  [1, 2, 3],
  3n,
  Symbol('s'),
  () => 1,
  new Float64Array(int(0, 40)),
  new Int32Array(int(0, 40)),
  new Uint8Array(int(0, 40)),
  new Float32Array(int(0, 40)),
  new DataView(new ArrayBuffer(16)),
  new ArrayBuffer(64),
  detached(Float32Array, int(0, 40)),
  detached(Int32Array, int(0, 4)),
  new Float32Array(new SharedArrayBuffer(4 * int(0, 40))),
  new Date(0),
  /re/,
];
const HUGE = [2 ** 31 - 1, 2 ** 31, 2 ** 30, 2 ** 20 + 1, 65536, 2 ** 53 - 1, 1e300, NaN, -1, 1.5, -0.5, Infinity, 0];

// Fields holding typed arrays as plain data properties (reading a getter here would run it early).
function arrayFields(a) {
  return Object.keys(a).filter((k) => ArrayBuffer.isView(Object.getOwnPropertyDescriptor(a, k).value));
}

// Setter for the accessor fields below, so that later mutations can still assign the field.
function replaceWith(k) {
  return function set(v) {
    Object.defineProperty(this, k, { value: v, writable: true, enumerable: true, configurable: true });
  };
}

function mutate(op, a) {
  const keys = Object.keys(a);
  switch (int(0, 13)) {
    case 0: // delete a field
      delete a[pick(keys)];
      break;
    case 1: // junk in a field (known or not)
      a[pick([...keys, 'async', 'reverse', 'lengths', 'c0', 'weightPeephole', 'dWeightPeephole'])] = pick(JUNK());
      break;
    case 2: {
      // array one short or one long
      const k = pick(arrayFields(a));
      if (k) a[k] = new a[k].constructor(Math.max(0, a[k].length + pick([-1, 1])));
      break;
    }
    case 3: {
      // bad size
      a[pick(SIZES)] = pick(HUGE);
      break;
    }
    case 4: {
      // sizes whose product overflows int32/int64
      for (const s of SIZES) if (chance(0.6)) a[s] = pick([2 ** 31 - 1, 2 ** 30, 2 ** 21, 2 ** 16]);
      break;
    }
    case 5: {
      // lengths out of range or malformed
      const B = typeof a.batch === 'number' && a.batch >= 0 && a.batch < 64 ? a.batch : 2;
      const T = typeof a.seqLen === 'number' ? a.seqLen : 1;
      a.lengths = pick([
        Int32Array.from({ length: B }, () => pick([T + 1, -1, 2 ** 31 - 1, -(2 ** 31), 0])),
        new Int32Array(B + 1),
        new Int32Array(Math.max(0, B - 1)),
        Array.from({ length: B }, () => 1),
        new Float32Array(B),
        new Uint32Array(B).fill(0xffffffff),
        detached(Int32Array, B),
      ]);
      break;
    }
    case 6: {
      // detached buffer of the right length
      const k = pick(arrayFields(a));
      if (k) a[k] = detached(a[k].constructor, a[k].length);
      break;
    }
    case 7: {
      // Float64Array (or another typed array) of the right length
      const k = pick(arrayFields(a));
      if (k) a[k] = new (pick([Float64Array, Int32Array, Uint32Array, Int16Array]))(a[k].length);
      break;
    }
    case 8: // enums and flags
      a[pick(['nonlinearity', 'resetAfter', 'reverse', 'async'])] = pick(['relu', 'tanh', 'sigmoid', 1, 0, 'true', null, true, false]);
      break;
    case 9: {
      // a getter that throws
      const k = pick(keys);
      Object.defineProperty(a, k, {
        get() {
          throw new Error(USER_ERROR);
        },
        set: replaceWith(k),
        enumerable: true,
        configurable: true,
      });
      break;
    }
    case 10: {
      // a getter that detaches another field's buffer while the addon reads the object
      const victims = arrayFields(a);
      if (victims.length === 0) break;
      const victim = a[pick(victims)];
      const k = pick(['async', 'cache', 'hN', 'dx', 'dWeightPeephole', 'resetAfter', 'nonlinearity', 'reverse']);
      const value = Object.getOwnPropertyDescriptor(a, k)?.value;
      Object.defineProperty(a, k, {
        get() {
          if (victim.buffer.byteLength > 0 && !(victim.buffer instanceof SharedArrayBuffer)) {
            structuredClone(victim.buffer, { transfer: [victim.buffer] });
          }
          return value;
        },
        set: replaceWith(k),
        enumerable: true,
        configurable: true,
      });
      break;
    }
    case 11: {
      // a zero size (arrays stay as they were)
      a[pick(SIZES)] = 0;
      break;
    }
    case 12: {
      // an output or input replaced by the same-length view of another buffer offset
      const k = pick(arrayFields(a));
      if (k && a[k] instanceof Float32Array) a[k] = offsetView(a[k].length);
      break;
    }
    default: {
      // array replaced by a plain array of numbers
      const k = pick(arrayFields(a));
      if (k) a[k] = Array.from({ length: a[k].length }, () => rand());
      break;
    }
  }
}

const stats = {
  calls: 0,
  returned: 0,
  resolved: 0,
  threw: {},
  rejected: {},
  userErrors: 0,
  unexpected: 0,
  internals: 0,
  samples: [],
};
function classify(kind, err) {
  if (err instanceof Error && err.message === USER_ERROR) {
    stats.userErrors++;
    return;
  }
  const code = err && typeof err === 'object' ? err.code : undefined;
  const bucket = kind === 'threw' ? stats.threw : stats.rejected;
  bucket[code ?? 'none'] = (bucket[code ?? 'none'] ?? 0) + 1;
  const name = typeof err?.message === 'string' ? err.message.split(':')[0] : '';
  if (!CODES.has(code) || !/^[A-Za-z][A-Za-z0-9]*(\[\d+\])?$/.test(name)) {
    stats.unexpected++;
    if (stats.samples.length < 10) stats.samples.push(`${kind} ${code}: ${err?.message ?? String(err)}`);
  }
}

const pending = [];
async function drain() {
  if (typeof globalThis.gc === 'function' && chance(0.5)) globalThis.gc(); // references must hold
  await Promise.all(pending.splice(0));
}

function fuzzInternals() {
  stats.internals++;
  stats.calls++;
  const I = addon.internals;
  const j = () => (chance(0.5) ? pick(JUNK()) : pick(HUGE));
  const sz = () => (chance(0.8) ? int(0, 5) : pick(HUGE));
  const arr = (n) => (chance(0.8) ? f32(Math.max(0, n + int(-2, 1))) : pick(JUNK()));
  try {
    switch (int(0, 5)) {
      case 0:
      case 1: {
        const M = sz(),
          N = sz(),
          K = sz(),
          lda = sz(),
          ldb = sz(),
          ldc = sz();
        const ta = chance(0.5),
          tb = chance(0.5);
        const n = (x) => (typeof x === 'number' && x < 64 ? x : 4);
        const fn = chance(0.5) ? I.sgemm : I.sgemmReference;
        fn(
          chance(0.95) ? ta : j(),
          chance(0.95) ? tb : j(),
          M,
          N,
          K,
          arr(n(M) * n(K) + 2),
          lda,
          arr(n(K) * n(N) + 2),
          ldb,
          arr(n(M) * n(N) + 2),
          ldc,
          chance(0.95) ? chance(0.5) : j(),
        );
        break;
      }
      case 2: {
        const n = int(0, 40);
        const fn = pick([I.mathExp, I.mathSigmoid, I.mathTanh]);
        fn(chance(0.8) ? f32(n) : j(), chance(0.7) ? f32(n) : arr(n));
        break;
      }
      case 3:
        addon.setThreads(j());
        break;
      case 4:
        I.isaAvailable(chance(0.5) ? j() : pick(['avx2', 'neon', 'scalar', 'avx512', '']));
        I.getIsa();
        I.bestIsa();
        break;
      default:
        I.setIsa(chance(0.5) ? j() : pick(['avx512', 'sse', '', 'AVX2 ']));
        addon.getThreads();
        break;
    }
    stats.returned++;
  } catch (err) {
    // A math kernel table that is not filled in yet reports ERR_GATED_NATIVE; that is allowed here.
    if (err && err.code === 'ERR_GATED_NATIVE' && / math kernel /.test(err.message)) {
      stats.threw.ERR_GATED_NATIVE = (stats.threw.ERR_GATED_NATIVE ?? 0) + 1;
    } else {
      classify('threw', err);
    }
  }
}

// The addon's other op families (training, layer and Jordan ops): argument objects built from
// each op family's real field names, every field a random pick of small sizes, short or right-length
// Float32Arrays, Int32Arrays with in- or out-of-range ids, enum strings and junk. Most calls are
// malformed; some are valid and run the kernel. Same rule: no crash, only gated error codes.
const PART_FIELDS = {
  train: {
    names: [
      'logits',
      'target',
      'weights',
      'dLogits',
      'input',
      'dInput',
      'param',
      'grad',
      'momentumBuffer',
      'expAvg',
      'expAvgSq',
      'squareAvg',
      'gradAvg',
      'rows',
      'numClasses',
      'size',
      'reduction',
      'ignoreIndex',
      'lr',
      'momentum',
      'dampening',
      'weightDecay',
      'nesterov',
      'beta1',
      'beta2',
      'eps',
      'alpha',
      'step',
      'centered',
      'decoupledWeightDecay',
      'maxNorm',
      'clipValue',
      'grads',
    ],
    enums: ['mean', 'sum', 'none'],
  },
  nn: {
    names: [
      'x',
      'y',
      'weight',
      'bias',
      'dy',
      'dx',
      'dWeight',
      'dBias',
      'ids',
      'out',
      'rows',
      'inFeatures',
      'outFeatures',
      'vocabSize',
      'dim',
      'paddingIndex',
      'accumulate',
    ],
    enums: [],
  },
  jordan: {
    names: [
      'seqLen',
      'batch',
      'inputSize',
      'hiddenSize',
      'outputSize',
      'x',
      'weightIh',
      'weightHy',
      'weightHo',
      'biasIh',
      'biasHh',
      'biasHo',
      'y0',
      'lengths',
      'reverse',
      'activation',
      'outputActivation',
      'y',
      'yN',
      'h',
      'cache',
      'dy',
      'dyN',
      'dx',
      'dy0',
      'dWeightIh',
      'dWeightHy',
      'dWeightHo',
      'dBiasIh',
      'dBiasHh',
      'dBiasHo',
    ],
    enums: ['tanh', 'relu', 'sigmoid', 'linear'],
  },
  step: {
    names: [
      'cache',
      'version',
      'cell',
      'nonlinearity',
      'resetAfter',
      'inputSize',
      'hiddenSize',
      'outputSize',
      'weightIh',
      'weightHh',
      'biasIh',
      'biasHh',
      'weightPeephole',
      'weightOut',
      'biasOut',
      'batch',
      'stateRows',
      'x',
      'h',
      'c',
      'stateIndex',
      'hOut',
      'cOut',
      'logProbs',
      'topK',
      'groupSize',
      'rowScores',
      'topValues',
      'topIndices',
    ],
    enums: ['lstm', 'gru', 'rnn', 'tanh', 'relu'],
  },
};

// A few step caches shared by the calls (so that shapes, cells and versions change under one cache).
const stepCaches = addon.stepCreateCache ? [addon.stepCreateCache(), addon.stepCreateCache(), addon.stepCreateCache()] : [];

function partValue(enums) {
  switch (int(0, 9)) {
    case 0:
    case 1:
      return int(0, 4); // a small size
    case 2:
    case 3:
      return f32(int(0, 24)); // an array of some length
    case 4:
      return Int32Array.from({ length: int(0, 6) }, () => int(-2, 6)); // ids, some out of range
    case 5:
      return enums.length ? pick(enums) : pick(JUNK());
    case 6:
      return chance(0.5);
    case 7:
      return pick(HUGE);
    case 8:
      return Array.from({ length: int(0, 3) }, () => f32(int(0, 8))); // a gradient list
    default:
      return pick(JUNK());
  }
}

// Valid argument objects for every op of the parts (small sizes; optional fields sometimes absent).
// Each returns [args, size field names, names of the Int32Array fields the addon must copy].
const opt = (p, make) => (chance(p) ? make() : undefined);
const maybeNull = (v) => (v === undefined && chance(0.3) ? null : v);
const PART_OPS = {
  nn: {
    linearForward() {
      const N = int(0, 4),
        I = int(0, 4),
        O = int(0, 4);
      return [
        {
          rows: N,
          inFeatures: I,
          outFeatures: O,
          x: f32(N * I),
          weight: f32(O * I),
          bias: maybeNull(opt(0.6, () => f32(O))),
          y: f32(N * O),
        },
        ['rows', 'inFeatures', 'outFeatures'],
        [],
      ];
    },
    linearBackward() {
      const N = int(0, 4),
        I = int(0, 4),
        O = int(0, 4);
      return [
        {
          rows: N,
          inFeatures: I,
          outFeatures: O,
          x: f32(N * I),
          weight: f32(O * I),
          dy: f32(N * O),
          dx: maybeNull(opt(0.7, () => f32(N * I))),
          dWeight: f32(O * I),
          dBias: maybeNull(opt(0.6, () => f32(O))),
          accumulate: opt(0.5, () => chance(0.5)),
        },
        ['rows', 'inFeatures', 'outFeatures'],
        [],
      ];
    },
    embeddingForward() {
      const N = int(0, 5),
        V = int(1, 5),
        E = int(0, 4);
      return [
        {
          rows: N,
          vocabSize: V,
          dim: E,
          ids: Int32Array.from({ length: N }, () => int(0, V - 1)),
          weight: f32(V * E),
          paddingIndex: opt(0.5, () => int(-1, V - 1)),
          out: f32(N * E),
        },
        ['rows', 'vocabSize', 'dim'],
        ['ids'],
      ];
    },
    embeddingBackward() {
      const N = int(0, 5),
        V = int(1, 5),
        E = int(0, 4);
      return [
        {
          rows: N,
          vocabSize: V,
          dim: E,
          ids: Int32Array.from({ length: N }, () => int(0, V - 1)),
          dy: f32(N * E),
          paddingIndex: opt(0.5, () => int(-1, V - 1)),
          dWeight: f32(V * E),
          accumulate: opt(0.5, () => chance(0.5)),
        },
        ['rows', 'vocabSize', 'dim'],
        ['ids'],
      ];
    },
  },
  train: {
    softmaxCrossEntropy() {
      const N = int(0, 5),
        C = int(1, 4);
      const ignoreIndex = opt(0.5, () => pick([-100, -1, 0, C]));
      const ig = ignoreIndex ?? -100;
      return [
        {
          rows: N,
          numClasses: C,
          logits: f32(N * C),
          targets: Int32Array.from({ length: N }, () => (chance(0.2) ? ig : int(0, C - 1))),
          weights: maybeNull(opt(0.4, () => Float32Array.from({ length: N }, () => rand() * 2))),
          ignoreIndex,
          reduction: opt(0.5, () => pick(['mean', 'sum'])),
          dLogits: f32(N * C),
          correct: maybeNull(opt(0.6, () => new Uint8Array(N))),
        },
        ['rows', 'numClasses'],
        ['targets'],
      ];
    },
    bceWithLogits() {
      const n = int(0, 8);
      return [
        {
          size: n,
          input: f32(n),
          target: Float32Array.from({ length: n }, rand),
          weights: maybeNull(opt(0.4, () => Float32Array.from({ length: n }, rand))),
          reduction: opt(0.5, () => pick(['mean', 'sum'])),
          dInput: f32(n),
        },
        ['size'],
        [],
      ];
    },
    mse() {
      const n = int(0, 8);
      return [
        {
          size: n,
          input: f32(n),
          target: f32(n),
          weights: maybeNull(opt(0.4, () => Float32Array.from({ length: n }, rand))),
          reduction: opt(0.5, () => pick(['mean', 'sum'])),
          dInput: f32(n),
        },
        ['size'],
        [],
      ];
    },
    sgdStep() {
      const n = int(0, 8);
      const momentum = pick([0, 0.9]);
      return [
        {
          size: n,
          param: f32(n),
          grad: f32(n),
          momentumBuffer: momentum ? f32(n) : maybeNull(undefined),
          lr: opt(0.7, () => rand()),
          momentum,
          dampening: opt(0.3, () => 0),
          weightDecay: opt(0.5, () => rand() * 0.1),
          nesterov: momentum && chance(0.5),
          step: int(1, 5),
        },
        ['size'],
        [],
      ];
    },
    adamStep() {
      const n = int(0, 8);
      return [
        {
          size: n,
          param: f32(n),
          grad: f32(n),
          expAvg: f32(n),
          expAvgSq: Float32Array.from({ length: n }, rand),
          lr: opt(0.7, () => rand() * 0.1),
          beta1: opt(0.5, () => 0.9),
          beta2: opt(0.5, () => 0.999),
          eps: opt(0.5, () => 1e-8),
          weightDecay: opt(0.5, () => 0.01),
          decoupledWeightDecay: opt(0.5, () => chance(0.5)),
          step: int(1, 5),
        },
        ['size'],
        [],
      ];
    },
    rmspropStep() {
      const n = int(0, 8);
      const centered = chance(0.5),
        momentum = pick([0, 0.5]);
      return [
        {
          size: n,
          param: f32(n),
          grad: f32(n),
          squareAvg: Float32Array.from({ length: n }, rand),
          gradAvg: centered ? f32(n) : undefined,
          momentumBuffer: momentum ? f32(n) : undefined,
          lr: opt(0.7, () => rand() * 0.1),
          alpha: opt(0.5, () => 0.9),
          eps: opt(0.5, () => 1e-8),
          weightDecay: opt(0.5, () => 0.01),
          momentum,
          centered,
        },
        ['size'],
        [],
      ];
    },
    clipGradNorm() {
      return [{ grads: Array.from({ length: int(0, 3) }, () => f32(int(0, 6))), maxNorm: pick([0, 0.5, 1, 1e9]) }, [], []];
    },
    clipGradValue() {
      return [{ grads: Array.from({ length: int(0, 3) }, () => f32(int(0, 6))), clipValue: pick([0, 0.25, 1]) }, [], []];
    },
  },
  jordan: {
    forward() {
      const [a, sizes] = jordanCommon();
      const { seqLen: T, batch: B, hiddenSize: H, outputSize: O } = a;
      Object.assign(a, {
        y0: opt(0.5, () => f32(B * O)),
        y: f32(T * B * O),
        yN: f32(B * O),
        h: opt(0.5, () => f32(T * B * H)),
        cache: opt(0.7, () => f32(T * B * (2 * O + H))),
      });
      return [a, sizes, a.lengths ? ['lengths'] : []];
    },
    backward() {
      const [a, sizes] = jordanCommon();
      const { seqLen: T, batch: B, inputSize: D, hiddenSize: H, outputSize: O } = a;
      Object.assign(a, {
        cache: f32(T * B * (2 * O + H)),
        dy: opt(0.7, () => f32(T * B * O)),
        dyN: opt(0.5, () => f32(B * O)),
        dx: f32(T * B * D),
        dy0: f32(B * O),
        dWeightIh: f32(H * D),
        dWeightHy: f32(H * O),
        dWeightHo: f32(O * H),
        dBiasIh: opt(0.5, () => f32(H)),
        dBiasHh: opt(0.5, () => f32(H)),
        dBiasHo: opt(0.5, () => f32(O)),
      });
      return [a, sizes, a.lengths ? ['lengths'] : []];
    },
  },
};

PART_OPS.step = {
  forward() {
    const cell = pick(['lstm', 'gru', 'rnn']),
      G = { lstm: 4, gru: 3, rnn: 1 }[cell];
    const D = int(0, 4),
      H = int(1, 4),
      V = pick([0, 0, int(1, 6)]),
      B = int(0, 4),
      rows = B + int(0, 2);
    const indexed = rows !== B || chance(0.3);
    const K = V > 0 && chance(0.6) ? int(1, Math.min(3, V)) : 0;
    const a = {
      cache: pick(stepCaches),
      version: int(0, 3),
      cell,
      inputSize: D,
      hiddenSize: H,
      outputSize: opt(0.8, () => V) ?? (V === 0 ? undefined : V),
      weightIh: f32(G * H * D),
      weightHh: f32(G * H * H),
      biasIh: opt(0.5, () => f32(G * H)),
      biasHh: opt(0.5, () => f32(G * H)),
      batch: B,
      stateRows: indexed ? rows : opt(0.3, () => B),
      x: f32(B * D),
      h: f32(rows * H),
      hOut: f32(B * H),
      stateIndex: indexed ? Int32Array.from({ length: B }, () => int(0, rows - 1)) : undefined,
    };
    if (cell === 'lstm')
      Object.assign(a, { c: opt(0.6, () => f32(rows * H)), cOut: f32(B * H), weightPeephole: opt(0.3, () => f32(3 * H)) });
    if (cell === 'gru') a.resetAfter = opt(0.6, () => chance(0.5));
    if (cell === 'rnn') a.nonlinearity = opt(0.6, () => pick(['tanh', 'relu']));
    if (V > 0) Object.assign(a, { weightOut: f32(V * H), biasOut: opt(0.5, () => f32(V)), logProbs: opt(0.5, () => f32(B * V)) });
    if (K > 0) Object.assign(a, { topK: K, topValues: f32(B * K), topIndices: new Int32Array(B * K), rowScores: opt(0.4, () => f32(B)) });
    return [a, ['inputSize', 'hiddenSize', 'outputSize', 'batch', 'stateRows', 'topK', 'groupSize'], a.stateIndex ? ['stateIndex'] : []];
  },
};

function jordanCommon() {
  const T = int(1, 4),
    B = int(1, 3),
    D = int(1, 4),
    H = int(1, 4),
    O = int(1, 3);
  const a = {
    seqLen: T,
    batch: B,
    inputSize: D,
    hiddenSize: H,
    outputSize: O,
    x: f32(T * B * D),
    weightIh: f32(H * D),
    weightHy: f32(H * O),
    weightHo: f32(O * H),
    biasIh: opt(0.5, () => f32(H)),
    biasHh: opt(0.5, () => f32(H)),
    biasHo: opt(0.5, () => f32(O)),
    lengths: opt(0.5, () => Int32Array.from({ length: B }, () => int(0, T))),
    reverse: opt(0.3, () => chance(0.5)),
    activation: opt(0.5, () => pick(['tanh', 'relu'])),
    outputActivation: opt(0.5, () => pick(['tanh', 'sigmoid', 'linear'])),
  };
  return [a, ['seqLen', 'batch', 'inputSize', 'hiddenSize', 'outputSize']];
}

// One malformation of a part op's argument object (the generic cases of mutate(), with this op's sizes).
function mutatePart(a, sizes, copied) {
  const keys = Object.keys(a);
  switch (int(0, 9)) {
    case 0:
      delete a[pick(keys)];
      break;
    case 1:
      a[pick([...keys, 'async'])] = pick(JUNK());
      break;
    case 2: {
      const k = pick(arrayFields(a));
      if (k) a[k] = new a[k].constructor(Math.max(0, a[k].length + pick([-1, 1])));
      break;
    }
    case 3:
      if (sizes.length) a[pick(sizes)] = pick(HUGE);
      else a[pick(keys)] = pick(HUGE);
      break;
    case 4: {
      // an id / target / length out of range
      const k = copied.length ? pick(copied) : null;
      if (k && a[k].length > 0) a[k][int(0, a[k].length - 1)] = pick([-1, -100, 2 ** 31 - 1, -(2 ** 31), 5, 99]);
      else if (Array.isArray(a.grads) && a.grads.length) a.grads[int(0, a.grads.length - 1)] = pick(JUNK());
      break;
    }
    case 5: {
      const k = pick(arrayFields(a));
      if (k) a[k] = detached(a[k].constructor, a[k].length);
      break;
    }
    case 6: {
      const k = pick(arrayFields(a));
      if (k) a[k] = new (pick([Float64Array, Int32Array, Uint8Array, Float32Array]))(a[k].length);
      break;
    }
    case 7: {
      // a getter that throws
      const k = pick(keys);
      Object.defineProperty(a, k, {
        get() {
          throw new Error(USER_ERROR);
        },
        set: replaceWith(k),
        enumerable: true,
        configurable: true,
      });
      break;
    }
    case 8: {
      // a getter that detaches another field's buffer while the addon reads the object
      const victims = arrayFields(a);
      if (victims.length === 0) break;
      const victim = a[pick(victims)];
      const k = pick(['async', ...keys]);
      const value = Object.getOwnPropertyDescriptor(a, k)?.value;
      Object.defineProperty(a, k, {
        get() {
          if (victim.buffer.byteLength > 0) structuredClone(victim.buffer, { transfer: [victim.buffer] });
          return value;
        },
        set: replaceWith(k),
        enumerable: true,
        configurable: true,
      });
      break;
    }
    default:
      if (sizes.length) a[pick(sizes)] = 0;
      break;
  }
}

// A valid (then usually mutated) call to one part op, sync or async. After an async call was queued,
// the fields the addon copies (ids, targets, lengths) are overwritten with out-of-range values.
function fuzzPartOp() {
  const available = Object.keys(PART_OPS).filter((k) => Object.keys(parts[k]).length > 0);
  if (available.length === 0) return;
  const part = pick(available);
  const names = Object.keys(PART_OPS[part]).filter((k) => typeof parts[part][k] === 'function');
  if (names.length === 0) return;
  const op = pick(names);
  const [args, sizes, copied] = PART_OPS[part][op]();
  for (const k of Object.keys(args)) if (args[k] === undefined && chance(0.7)) delete args[k];
  const wantAsync = chance(0.5);
  if (wantAsync) args.async = true;
  const mutations = chance(0.25) ? 0 : int(1, 2);
  for (let m = 0; m < mutations; m++) {
    try {
      mutatePart(args, sizes, copied);
    } catch {
      stats.mutationErrors = (stats.mutationErrors ?? 0) + 1;
    }
  }
  const copiedArrays = copied.map((k) => Object.getOwnPropertyDescriptor(args, k)?.value).filter((v) => v instanceof Int32Array);
  stats.partOps = (stats.partOps ?? 0) + 1;
  stats.calls++;
  try {
    const r = parts[part][op](chance(0.03) ? new Proxy(args, {}) : args);
    if (r instanceof Promise) {
      stats.partAsync = (stats.partAsync ?? 0) + 1;
      for (const c of copiedArrays) if (c.buffer.byteLength > 0) c.fill(pick([-(2 ** 31), 2 ** 31 - 1, -7, 1e6]));
      pending.push(
        r.then(
          () => {
            stats.resolved++;
          },
          (err) => classify('rejected', err),
        ),
      );
    } else {
      stats.returned++;
    }
  } catch (err) {
    classify('threw', err);
  }
}

function fuzzParts() {
  const available = Object.keys(PART_FIELDS).filter((k) => Object.keys(parts[k]).length > 0);
  if (available.length === 0) return;
  const part = pick(available);
  const fns = Object.keys(parts[part]).filter((k) => typeof parts[part][k] === 'function');
  if (fns.length === 0) return;
  const { names, enums } = PART_FIELDS[part];
  const args = {};
  for (const name of names) if (chance(0.6)) args[name] = partValue(enums);
  if (chance(0.3)) args.async = chance(0.8) ? true : pick(JUNK());
  stats.parts = (stats.parts ?? 0) + 1;
  stats.calls++;
  try {
    const r = parts[part][pick(fns)](chance(0.03) ? pick(JUNK()) : args);
    if (r instanceof Promise) {
      pending.push(
        r.then(
          () => {
            stats.resolved++;
          },
          (err) => classify('rejected', err),
        ),
      );
    } else {
      stats.returned++;
    }
  } catch (err) {
    classify('threw', err);
  }
}

const opNames = Object.keys(OPS);
const started = Date.now();
for (let i = 0; i < CALLS; i++) {
  if (chance(0.08)) {
    fuzzInternals();
    continue;
  }
  if (chance(0.15)) {
    fuzzParts();
    if (pending.length >= 64) await drain();
    continue;
  }
  if (chance(0.2)) {
    fuzzPartOp();
    if (pending.length >= 64) await drain();
    continue;
  }
  const op = pick(opNames);
  let args = validArgs(op);
  const mutations = chance(0.1) ? 0 : int(1, 3);
  const wantAsync = chance(0.3);
  if (wantAsync) args.async = true;
  for (let m = 0; m < mutations; m++) {
    try {
      mutate(op, args);
    } catch (err) {
      // A mutation that touched a detached view or a throwing getter: the fuzzer's own problem.
      stats.mutationErrors = (stats.mutationErrors ?? 0) + 1;
    }
  }
  if (chance(0.02)) args = pick([null, undefined, 7, 'args', [], Symbol('x')]);
  else if (chance(0.03)) args = new Proxy(args, {});
  stats.calls++;
  try {
    const r = addon[op](args);
    if (r instanceof Promise) {
      pending.push(
        r.then(
          () => {
            stats.resolved++;
          },
          (err) => classify('rejected', err),
        ),
      );
    } else {
      stats.returned++;
    }
  } catch (err) {
    classify('threw', err);
  }
  if (pending.length >= 64) await drain();
}
await drain();
stats.seconds = (Date.now() - started) / 1000;
stats.seed = SEED;
console.log(`FUZZ_SUMMARY ${JSON.stringify(stats)}`);
process.exitCode = stats.unexpected === 0 ? 0 : 1;
