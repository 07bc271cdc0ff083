/**
 * The bench's ONNX Runtime side: the graphs a user would export from PyTorch for the workloads
 * (torch.onnx.export of nn.LSTM gives one ONNX `LSTM` node, gates reordered i,f,g,o -> i,o,f,c and
 * the two biases concatenated; nn.Linear on a 3-D input gives `MatMul` + `Add`; then `LogSoftmax` and
 * `TopK`), written as ONNX protobuf bytes by a small encoder (no onnx package needed), and run with
 * onnxruntime-node when it is installed (a devDependency; its postinstall, which would download
 * CUDA provider libraries from NuGet on linux-x64, is denied in package.json's allowScripts: the
 * CPU runtime is in the npm package itself).
 */
import { createRequire } from 'node:module';

// ---- protobuf wire format (varint, length-delimited, fixed32) ----

class Pb {
  private parts: Uint8Array[] = [];
  private len = 0;
  private push(b: Uint8Array): void {
    this.parts.push(b);
    this.len += b.length;
  }
  private varint(v: number | bigint): void {
    let x = BigInt(v);
    if (x < 0n) x += 1n << 64n; // two's complement for negative int64
    const out: number[] = [];
    do {
      let byte = Number(x & 0x7fn);
      x >>= 7n;
      if (x > 0n) byte |= 0x80;
      out.push(byte);
    } while (x > 0n);
    this.push(Uint8Array.from(out));
  }
  int(field: number, v: number | bigint): this {
    this.varint((field << 3) | 0);
    this.varint(v);
    return this;
  }
  float(field: number, v: number): this {
    this.varint((field << 3) | 5);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.push(b);
    return this;
  }
  bytes(field: number, b: Uint8Array): this {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.push(b);
    return this;
  }
  str(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }
  msg(field: number, m: Pb): this {
    return this.bytes(field, m.done());
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.len);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

// ---- the ONNX messages the graphs need (field numbers from onnx.proto) ----

const FLOAT = 1,
  INT64 = 7;

function tensor(name: string, dims: number[], data: Float32Array): Pb {
  const t = new Pb();
  for (const d of dims) t.int(1, d);
  t.int(2, FLOAT)
    .str(8, name)
    .bytes(9, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return t;
}

function valueInfo(name: string, elemType: number, dims: (number | string)[]): Pb {
  const shape = new Pb();
  for (const d of dims) shape.msg(1, typeof d === 'number' ? new Pb().int(1, d) : new Pb().str(2, d));
  const tt = new Pb().int(1, elemType).msg(2, shape);
  return new Pb().str(1, name).msg(2, new Pb().msg(1, tt));
}

type Attr = { name: string } & ({ i: number } | { s: string } | { f: number });
function node(op: string, inputs: string[], outputs: string[], attrs: Attr[] = []): Pb {
  const n = new Pb();
  for (const i of inputs) n.str(1, i);
  for (const o of outputs) n.str(2, o);
  n.str(3, `${op}_${outputs[0]}`).str(4, op);
  for (const a of attrs) {
    const p = new Pb().str(1, a.name);
    if ('i' in a) p.int(3, a.i).int(20, 2);
    else if ('f' in a) p.float(2, a.f).int(20, 1);
    else p.bytes(4, new TextEncoder().encode(a.s)).int(20, 3);
    n.msg(5, p);
  }
  return n;
}

function model(nodes: Pb[], inits: Pb[], inputs: Pb[], outputs: Pb[]): Uint8Array {
  const g = new Pb();
  for (const n of nodes) g.msg(1, n);
  g.str(2, 'gated_bench');
  for (const t of inits) g.msg(5, t);
  for (const i of inputs) g.msg(11, i);
  for (const o of outputs) g.msg(12, o);
  return new Pb().int(1, 8).str(2, 'gated-bench').msg(7, g).msg(8, new Pb().str(1, '').int(2, 17)).done();
}

// ---- the workloads' graphs ----

/** PyTorch LSTM weights (gates i, f, g, o) as ONNX's W, R, B (gates i, o, f, c; B = [Wb | Rb]). */
function onnxLstmWeights(H: number, D: number, wIh: Float32Array, wHh: Float32Array, bIh: Float32Array, bHh: Float32Array) {
  const order = [0, 3, 1, 2]; // ONNX gate q takes PyTorch gate order[q]
  const W = new Float32Array(4 * H * D),
    R = new Float32Array(4 * H * H),
    B = new Float32Array(8 * H);
  order.forEach((g, q) => {
    W.set(wIh.subarray(g * H * D, (g + 1) * H * D), q * H * D);
    R.set(wHh.subarray(g * H * H, (g + 1) * H * H), q * H * H);
    B.set(bIh.subarray(g * H, (g + 1) * H), q * H);
    B.set(bHh.subarray(g * H, (g + 1) * H), 4 * H + q * H);
  });
  return { W, R, B };
}

export interface LstmGraph {
  T: number;
  B: number;
  D: number;
  H: number;
  weightIh: Float32Array;
  weightHh: Float32Array;
  biasIh: Float32Array;
  biasHh: Float32Array;
  /** The output layer (W5v): dense [V, H] + bias, log-softmax, top-k. */
  out?: { V: number; weight: Float32Array; bias: Float32Array; k: number };
}

/** x [T, B, D], h0 / c0 [1, B, H] -> Y, Y_h, Y_c (+ logp top-k values / indices with `out`). */
export function lstmModel(g: LstmGraph): Uint8Array {
  const { W, R, B } = onnxLstmWeights(g.H, g.D, g.weightIh, g.weightHh, g.biasIh, g.biasHh);
  const inits = [tensor('W', [1, 4 * g.H, g.D], W), tensor('R', [1, 4 * g.H, g.H], R), tensor('B', [1, 8 * g.H], B)];
  const nodes = [node('LSTM', ['x', 'W', 'R', 'B', '', 'h0', 'c0'], ['Y', 'Y_h', 'Y_c'], [{ name: 'hidden_size', i: g.H }])];
  const outputs = [valueInfo('Y_h', FLOAT, [1, g.B, g.H]), valueInfo('Y_c', FLOAT, [1, g.B, g.H])];
  if (g.out) {
    const { V, weight, bias, k } = g.out;
    const wT = new Float32Array(g.H * V); // MatMul's B operand [H, V] (nn.Linear exports W^T)
    for (let v = 0; v < V; v++) for (let j = 0; j < g.H; j++) wT[j * V + v] = weight[v * g.H + j];
    inits.push(tensor('Wout', [g.H, V], wT), tensor('bout', [V], bias), kTensor(k));
    nodes.push(
      node('MatMul', ['Y_h', 'Wout'], ['logits0']),
      node('Add', ['logits0', 'bout'], ['logits']),
      node('LogSoftmax', ['logits'], ['logp'], [{ name: 'axis', i: -1 }]),
      node('TopK', ['logp', 'k'], ['top_values', 'top_indices'], [{ name: 'axis', i: -1 }]),
    );
    outputs.push(valueInfo('top_values', FLOAT, [1, g.B, k]), valueInfo('top_indices', INT64, [1, g.B, k]));
  } else {
    outputs.unshift(valueInfo('Y', FLOAT, [g.T, 1, g.B, g.H]));
  }
  const inputs = [valueInfo('x', FLOAT, [g.T, g.B, g.D]), valueInfo('h0', FLOAT, [1, g.B, g.H]), valueInfo('c0', FLOAT, [1, g.B, g.H])];
  return model(nodes, inits, inputs, outputs);
}

function kTensor(k: number): Pb {
  const t = new Pb().int(1, 1).int(2, INT64).str(8, 'k');
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigInt64(0, BigInt(k), true);
  return t.bytes(9, b);
}

// ---- running them ----

interface OrtTensor {
  readonly data: unknown;
}
interface OrtSession {
  run(feeds: Record<string, OrtTensor>): Promise<Record<string, OrtTensor>>;
}
interface Ort {
  InferenceSession: { create(bytes: Uint8Array, options: object): Promise<OrtSession> };
  Tensor: new (type: string, data: Float32Array, dims: number[]) => OrtTensor;
}

/** onnxruntime-node and its version, or null when it is not installed. */
export function loadOrt(): { ort: Ort; version: string } | null {
  try {
    const require = createRequire(import.meta.url);
    const ort = require('onnxruntime-node') as Ort;
    const version = (require('onnxruntime-node/package.json') as { version: string }).version;
    return { ort, version };
  } catch {
    return null;
  }
}

/** A session on `threads` intra-op threads and a function that runs one inference with fixed inputs. */
export async function ortRunner(
  o: Ort,
  bytes: Uint8Array,
  threads: number,
  g: LstmGraph,
  x: Float32Array,
  h0: Float32Array,
  c0: Float32Array,
) {
  const session = await o.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
  });
  const feeds = {
    x: new o.Tensor('float32', x, [g.T, g.B, g.D]),
    h0: new o.Tensor('float32', h0, [1, g.B, g.H]),
    c0: new o.Tensor('float32', c0, [1, g.B, g.H]),
  };
  return { session, run: () => session.run(feeds) };
}
