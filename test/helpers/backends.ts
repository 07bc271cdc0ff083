/**
 * The backends a parametrized cell suite runs against: always the pure-JS one, plus the native one
 * when its addon loads and runs a tiny call (giving a non-zero answer: placeholder kernels that write
 * nothing are treated as not there yet). Each is a {@link Backend} of the six cell ops (sync and
 * async), so that a suite calls `backend.lstmForward(args)`:
 *
 *   describe.each(backends.map((b) => [b.name, b] as const))('%s backend', (_name, backend) => { ... });
 *
 * The native one calls the addon through lib/backend's native backend WITHOUT the TypeScript argument
 * checks of lib/ops (what the addon's own checks are tested with); the JS one runs lib/js's twins.
 *
 * Set GATED_REQUIRE_NATIVE=1 (CI with a built addon) to make a missing native backend an error
 * instead of a skip.
 */
import { jsBackend as js, nativeBackend as native } from '../../lib/backend/index.js';
import { cellOps, uncheckedNativeCall } from '../../lib/ops/cells.js';
import type { Ops } from '../../lib/ops/index.js';

type CellOp = keyof typeof cellOps;
const CELL_OPS = Object.keys(cellOps) as CellOp[];

/** The six cell ops of one backend, sync and async. */
export type Backend = { readonly name: 'native' | 'js' } & Pick<Ops, CellOp | `${CellOp}Async`>;

function make(name: 'native' | 'js'): Backend {
  const out: Record<string, unknown> = { name };
  for (const op of CELL_OPS) {
    if (name === 'js') {
      out[op] = (a: never) => cellOps[op](a, { backend: js });
      out[`${op}Async`] = (a: never) => cellOps[op].async(a, { backend: js });
    } else {
      const plan = (a: never) => ({
        js: () => {
          throw new Error('native only');
        },
        native: () => uncheckedNativeCall(op, a),
      });
      out[op] = (a: never) => native.run(op, plan(a));
      out[`${op}Async`] = (a: never) => native.runAsync(op, plan(a));
    }
  }
  return out as unknown as Backend;
}

/** The pure-TS cell ops. */
export const jsBackend: Backend = make('js');
/** The addon's cell ops, without lib/ops' argument checks. */
export const nativeBackend: Backend = make('native');

function probeNative(): string | null {
  try {
    // y = tanh(1*1) here; an exact 0 is what placeholder kernels would return.
    const probe = nativeBackend.rnnForward({
      seqLen: 1,
      batch: 1,
      inputSize: 1,
      hiddenSize: 1,
      x: new Float32Array([1]),
      weightIh: new Float32Array([1]),
      weightHh: new Float32Array([1]),
    });
    return probe.y[0] === 0 ? 'the native kernels are placeholders (rnnForward probe returned 0, not tanh(1))' : null;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/** Why the native backend is not in {@link backends}, or null when it is. */
export const nativeSkipReason: string | null = probeNative();
if (nativeSkipReason !== null) {
  if (process.env.GATED_REQUIRE_NATIVE === '1')
    throw new Error(`GATED_REQUIRE_NATIVE=1 but the native backend is unavailable: ${nativeSkipReason}`);
  console.warn(`[test] native backend skipped: ${nativeSkipReason}`);
}

/** Every backend available in this process, the JS one first. */
export const backends: readonly Backend[] = nativeSkipReason === null ? [jsBackend, nativeBackend] : [jsBackend];
