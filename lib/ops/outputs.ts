/**
 * Where an op's outputs come from: {@link outputArray} (a fresh array per call), or a
 * {@link Workspace} passed as `options.workspace` that hands the same arrays back call after call.
 *
 * Why: on the native backend every call allocates its outputs, and a large fresh allocation is
 * fresh pages that the kernel must fault in and zero as it writes them. A training step's outputs
 * (an LSTM's 16 MB cache, its gradients) or a B=1 inference's `y` cost a measurable part of the
 * call that way (bench/results/2026-12-04-workspace.md), and more while the garbage collector has
 * not yet returned the previous calls' arrays. A loop that calls the same op again and again (a
 * training loop, a server answering requests one by one) can hand the same arrays back instead.
 */
import { ShapeError, ValueError } from '../errors.js';

/** Allocates an output of `n` floats that the kernel overwrites completely. */
export type Alloc = (n: number) => Float32Array;

/**
 * An output array for the addon to fill. The kernels overwrite every element of every output they
 * are given (native/cells.h; native/tests/cells_test.cc pre-fills outputs with poison to prove it),
 * so large ones are allocated without the zero fill of `new Float32Array(n)`: for a training step's
 * 16 MB cache that fill is a whole extra pass over memory. Small ones keep the plain constructor.
 * Only for outputs the kernel writes completely.
 */
export const outputArray: Alloc = (n) => {
  if (n < 16384) return new Float32Array(n);
  try {
    const bytes = Buffer.allocUnsafeSlow(4 * n); // its own ArrayBuffer, byteOffset 0, not pooled
    return new Float32Array(bytes.buffer, bytes.byteOffset, n);
  } catch (e) {
    if (!(e instanceof RangeError)) throw e;
    throw new ShapeError(`cannot allocate an output of ${n} floats (${((n * 4) / 2 ** 30).toFixed(1)} GiB)`, 'sizes');
  }
};

/**
 * Output arrays kept between calls. Pass one as `options.workspace` to the cell ops
 * (`rnnForward` ... `gruBackward`), `attnDecoderForward` / `attnDecoderBackward`, `linearForward`,
 * `linearBackward` (its `dx`), `embeddingForward` and `softmaxCrossEntropy` (its `dLogits`); on
 * the native backend their outputs then come from it:
 *
 * - **A call's results are overwritten by the next call of the same op through the same
 *   workspace.** Copy what must outlive it (`y.slice()`). Calls of other ops through it do not
 *   touch them (`lstmBackward` does not overwrite `lstmForward`'s cache).
 * - An output is never an array (or a view of a buffer) the same call reads: feeding `hN` back as
 *   `h0`, or `y` as the next call's `x`, is safe; the workspace then uses a second array.
 * - The outputs of a call have the sizes of that call; an op keeps the arrays its last call used
 *   (and those it could not use because they were inputs), so memory stays at about two calls'
 *   outputs per op however the sizes change.
 * - One call at a time: a call through a workspace while an async call through it is unfinished
 *   is a {@link ValueError} naming `options.workspace`.
 * - The `'js'` backend, and the other ops, allocate as without it.
 */
export class Workspace {
  readonly #pools = new Map<string, Float32Array[]>();
  readonly #children = new Map<object, Workspace[]>();
  #busy = false;

  /** The bytes of the arrays the workspace holds (with its {@link Workspace.for} workspaces'). */
  get bytes(): number {
    let n = 0;
    for (const pool of this.#pools.values()) for (const a of pool) n += a.byteLength;
    for (const list of this.#children.values()) for (const w of list) n += w?.bytes ?? 0;
    return n;
  }

  /** Drops every array (they are reallocated by the next calls). */
  clear(): void {
    this.#check();
    for (const list of this.#children.values()) for (const w of list) w?.clear();
    this.#pools.clear();
    this.#children.clear();
  }

  /**
   * The workspace of call site `slot` of `owner`, its own from then on: a model's layers each take
   * theirs (`model.forward(x, { workspace })`), so that one layer's call does not overwrite
   * another's results of the same op.
   */
  for(owner: object, slot: number): Workspace {
    const list = this.#children.get(owner) ?? this.#children.set(owner, []).get(owner)!;
    return (list[slot] ??= new Workspace());
  }

  #check(): void {
    if (this.#busy)
      throw new ValueError(
        'the workspace is in use by an unfinished async call; use one workspace per concurrent call',
        'options.workspace',
      );
  }

  /**
   * @internal Runs `prepare` (an op's plan, or its native call) with an allocator that hands out
   * op `op`'s arrays, none of them a buffer that `args` holds; what it handed out (and what it
   * skipped as an input) becomes the op's pool for its next call, unless it handed out nothing.
   */
  outputs<T>(op: string, args: unknown, prepare: (alloc: Alloc) => T): T {
    this.#check();
    const inputs = new Set<ArrayBufferLike>();
    collectBuffers(args, inputs, 0);
    const pool = this.#pools.get(op) ?? [];
    const taken: boolean[] = pool.map(() => false);
    const fresh: Float32Array[] = [];
    let asked = 0;
    const result = prepare((n) => {
      asked++;
      for (let i = 0; i < pool.length; i++) {
        if (!taken[i] && pool[i].length === n && !inputs.has(pool[i].buffer)) {
          taken[i] = true;
          return pool[i];
        }
      }
      const a = outputArray(n);
      fresh.push(a);
      return a;
    });
    // A part of a call that allocates nothing (an op's plan, or its native call) leaves the pool.
    if (asked > 0) this.#pools.set(op, [...pool.filter((a, i) => taken[i] || inputs.has(a.buffer)), ...fresh]);
    return result;
  }

  /**
   * @internal Starts an async call (`start` prepares its outputs synchronously, through
   * {@link outputs}) and marks the workspace in use until it settles.
   */
  hold<T>(start: () => Promise<T>): Promise<T> {
    this.#check();
    const settled = start();
    this.#busy = true;
    return settled.finally(() => {
      this.#busy = false;
    });
  }
}

/** The buffers of the typed arrays in `v` (an op's arguments: arrays of layers, objects of fields). */
function collectBuffers(v: unknown, out: Set<ArrayBufferLike>, depth: number): void {
  if (v === null || typeof v !== 'object' || depth > 3) return;
  if (ArrayBuffer.isView(v)) {
    out.add(v.buffer);
    return;
  }
  for (const x of Array.isArray(v) ? v : Object.values(v)) collectBuffers(x, out, depth + 1);
}
