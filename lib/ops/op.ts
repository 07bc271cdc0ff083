/**
 * What an op is: a name (the addon's export of the same name) and a `plan` function that validates
 * the arguments (every check of lib/check.ts, so both backends raise the same typed error for the
 * same mistake, before either runs) and returns an {@link OpPlan}: the pure-TS twin, and the native
 * call, its outputs allocated. Outputs come from the allocator `defineOp` hands the plan function
 * and the native call: fresh arrays, or the {@link Workspace} of `options.workspace`
 * (lib/ops/outputs.ts). {@link defineOp} turns that into the op users call, sync and async, on the
 * backend the options name (default: the process default).
 *
 * Adding an op: one `defineOp` in a file of lib/ops/ (its plan: checks, the native fields, the twin
 * in lib/js/), its kernel and binding in native/, and a line in lib/ops/index.ts.
 *
 * Async calls: with the native backend the kernel runs on a libuv worker thread and the event loop
 * keeps running; with `'js'` the twin runs inline before the promise resolves. Validation errors
 * reject the promise. Inputs must not be modified (or their buffers transferred or resized) until
 * the promise settles: the native kernel reads them while JavaScript runs. A buffer detached or
 * resized meanwhile rejects the promise with a ValueError naming the argument once the kernel ends,
 * but cannot stop the kernel from reading memory the array no longer owns
 * (native/binding/worker.h).
 */
import { describe, objectArgs } from '../check.js';
import { ValueError } from '../errors.js';
import type { NativeCallArgs } from '../backend/addon.js';
import { type Backend, type BackendName, type NativeCall, type Plan, resolveBackend } from '../backend/index.js';
import { type Alloc, outputArray, Workspace } from './outputs.js';

export { outputArray, Workspace } from './outputs.js';
export type { Alloc } from './outputs.js';

/** Options every op accepts. */
export interface OpOptions {
  /**
   * Which implementation runs the op: `'native'` (the C++ addon), `'js'` (pure TypeScript), or a
   * {@link Backend} object. Default: the process default (see `setDefaultBackend`; initially
   * `'native'`).
   */
  readonly backend?: BackendName | Backend;
  /**
   * Where the native backend takes the outputs from: a {@link Workspace} hands the same arrays back
   * call after call (the next call of the same op through it overwrites this call's results).
   * Default: fresh arrays for every call.
   */
  readonly workspace?: Workspace | null;
}

/** An op: `op(args, options)` runs it on the calling thread, `op.async(args, options)` off it. */
export interface Op<A, R> {
  /** The op's name (also the addon export that runs it). */
  readonly opName: string;
  (args: A, options?: OpOptions): R;
  /** The same op off the main thread (native backend); see the module comment. */
  async(args: A, options?: OpOptions): Promise<R>;
}

/**
 * What an op's `plan` returns: the pure-TS twin, and the native call, which takes the outputs it
 * allocates from `alloc` (fresh arrays, or a {@link Workspace}'s).
 */
export interface OpPlan<R> {
  js(): R;
  native(alloc: Alloc): NativeCall<R>;
}

/**
 * An op's plan function: checks `args` and allocates, from `alloc`, the outputs both backends write
 * (the ops of {@link planInPlace}; zero-filled without a workspace).
 */
export type PlanFn<A, R> = (args: A, alloc: Alloc) => OpPlan<R>;

const zeros: Alloc = (n) => new Float32Array(n);

function resolveOptions(options: OpOptions | undefined): { backend: Backend; workspace: Workspace | null } {
  if (options === undefined) return { backend: resolveBackend(undefined, 'options.backend'), workspace: null };
  const o = objectArgs(options, 'options');
  const w = o.workspace ?? null;
  if (w !== null && !(w instanceof Workspace))
    throw new ValueError(`expected a Workspace (new Workspace()), got ${describe(w)}`, 'options.workspace');
  return { backend: resolveBackend(o.backend, 'options.backend'), workspace: w };
}

/**
 * The plan a backend runs for `args`, and the workspace its outputs come from (on the native
 * backend only): the plan's outputs, then the native call's, each from the op's arrays.
 */
function planned<A, R>(name: string, plan: PlanFn<A, R>, args: A, options: OpOptions | undefined) {
  const { backend, workspace } = resolveOptions(options);
  const ws = backend.name === 'native' ? workspace : null;
  const p = ws ? ws.outputs(name, args, (alloc) => plan(args, alloc)) : plan(args, zeros);
  const bound: Plan<R> = {
    js: () => p.js(),
    native: () => (ws ? ws.outputs(name, args, (alloc) => p.native(alloc)) : p.native(outputArray)),
  };
  return { backend, bound, ws };
}

/** The op named `name` whose arguments `plan` validates (see the module comment). */
export function defineOp<A, R>(name: string, plan: PlanFn<A, R>): Op<A, R> {
  const op = ((args: A, options?: OpOptions): R => {
    const { backend, bound } = planned(name, plan, args, options);
    return backend.run(name, bound);
  }) as Op<A, R>;
  Object.defineProperty(op, 'opName', { value: name });
  op.async = async (args: A, options?: OpOptions): Promise<R> => {
    const { backend, bound, ws } = planned(name, plan, args, options);
    return ws ? ws.hold(() => backend.runAsync(name, bound)) : backend.runAsync(name, bound);
  };
  return op;
}

/**
 * The plan of an op whose outputs were allocated before either backend runs (so both write the same
 * arrays): `twin` computes them in TS and returns what the addon's op returns (a loss, a norm, or
 * nothing), and `result` turns that into the op's result.
 */
export function planInPlace<T, R>(fields: NativeCallArgs, twin: () => T, result: (returned: T) => R): Plan<R> {
  return { js: () => result(twin()), native: () => ({ fields, result: (returned) => result(returned as T) }) };
}
