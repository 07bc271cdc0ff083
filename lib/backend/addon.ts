/**
 * The one place that loads the native addon.
 *
 * `node-gyp-build` finds `prebuilds/<platform>-<arch>/` or `build/Release/gated.node` under the
 * package root (two levels above this file both as `lib/backend/addon.ts` under vitest and as
 * `dist/backend/addon.js` after `tsc`). `GATED_ADDON_PATH` (absolute path of a `.node` file) loads
 * that file instead; CI uses it to run the tests against the sanitizer build
 * (`build-asan/Release/gated.node`).
 *
 * Loading is lazy and never throws at import time: a failure is recorded and every use of the native
 * backend then throws a {@link NativeError} whose `cause` is the loader's error, while the pure-JS
 * backend keeps working.
 *
 * The addon's surface (native/binding/) is flat and internal: every op is an export named as its op
 * in lib/ops/ (`lstmForward`, `linearBackward`, `adamStep`, `jordanForward`, ...), taking one object
 * of fields and `async`; lib/backend/index.ts is the only caller of the ops. Besides them:
 * `setThreads` / `getThreads`, and `internals`, test-only entry points (kernel-table switching, the
 * raw GEMM and math kernels) that no public API reaches.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NativeError } from '../errors.js';

/** One argument object of an addon op. */
export type NativeCallArgs = { readonly [field: string]: unknown };

/** An addon op: returns its result with `args.async` false, a Promise of it with `args.async === true`. */
export type NativeOpFn = (args: NativeCallArgs) => unknown;

/** The raw GEMM entry points' signature (test-only). */
export type SgemmFn = (
  transA: boolean,
  transB: boolean,
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  lda: number,
  B: Float32Array,
  ldb: number,
  C: Float32Array,
  ldc: number,
  accumulate: boolean,
) => void;

/**
 * Test-only entry points of the addon: switching the kernel table (not while kernels run on other
 * threads), and the GEMM and math kernels on their own. No public API reaches them.
 */
export interface NativeInternals {
  setIsa(name: string): boolean;
  getIsa(): string;
  bestIsa(): string;
  isaAvailable(name: string): boolean;
  /** The active, best and available instruction sets, GATED_ISA as read at load and why it was not followed (native/dispatch.h). */
  isaInfo(): { active: string; best: string; available: string[]; requested: string; notice: string };
  /** C = op(A) op(B) (+ C when `accumulate`), row-major with leading dimensions: the fast GEMM. */
  sgemm: SgemmFn;
  /** The same by the scalar reference. */
  sgemmReference: SgemmFn;
  mathExp(x: Float32Array, y: Float32Array): void;
  mathSigmoid(x: Float32Array, y: Float32Array): void;
  mathTanh(x: Float32Array, y: Float32Array): void;
}

/** The raw exports of gated.node. */
export interface NativeAddon {
  setThreads(n: number): void;
  getThreads(): number;
  readonly internals: NativeInternals;
  /** The ops, by name. */
  readonly [op: string]: unknown;
}

/** Folder holding package.json, binding.gyp, build/ and prebuilds/. */
export const packageRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

let loaded: NativeAddon | undefined;
let loadError: unknown;
let attempted = false;

function tryLoad(): void {
  if (attempted) return;
  attempted = true;
  const require = createRequire(import.meta.url);
  const override = process.env.GATED_ADDON_PATH;
  try {
    if (override !== undefined && override !== '') {
      loaded = require(resolve(override)) as NativeAddon;
    } else {
      const load = require('node-gyp-build') as (dir: string) => unknown;
      loaded = load(packageRoot) as NativeAddon;
    }
    // GATED_ISA named an instruction set this CPU or build cannot run: the best one runs instead.
    const notice = loaded.internals.isaInfo().notice;
    if (notice !== '') process.emitWarning(notice, { code: 'GATED_ISA' });
  } catch (err) {
    loadError = err;
  }
}

/** The loader's error when the addon could not be loaded, otherwise undefined. Triggers loading. */
export function addonLoadError(): unknown {
  tryLoad();
  return loadError;
}

/** Whether the native addon loaded. Triggers loading; never throws. */
export function nativeAvailable(): boolean {
  tryLoad();
  return loaded !== undefined;
}

/**
 * The loaded addon. Throws a {@link NativeError} (with the loader's error as `cause`) when it could
 * not be loaded.
 */
export function loadAddon(): NativeAddon {
  tryLoad();
  if (loaded === undefined) {
    const cause = loadError instanceof Error ? loadError.message : String(loadError);
    const where = process.env.GATED_ADDON_PATH ? `GATED_ADDON_PATH=${process.env.GATED_ADDON_PATH}` : packageRoot;
    const err = new NativeError(
      `the native addon could not be loaded from ${where} (${cause}); ` +
        `no prebuilt binary fits this platform and none was compiled: run \`npm rebuild gated\` ` +
        `(if npm skipped its install script: \`npm install-scripts approve gated\` first), ` +
        `or use the 'js' backend`,
    );
    Object.defineProperty(err, 'cause', { value: loadError, enumerable: false, configurable: true, writable: true });
    throw err;
  }
  return loaded;
}

/**
 * The addon's op `name`. Throws a {@link NativeError} when the addon cannot be loaded (see
 * {@link loadAddon}) or has no such op (an addon built from other sources than this package's).
 */
export function addonOp(name: string): NativeOpFn {
  const fn = loadAddon()[name];
  if (typeof fn !== 'function') {
    throw new NativeError(`the native addon has no op '${name}': rebuild it (\`npm run build:native\`), or use the 'js' backend`);
  }
  return fn as NativeOpFn;
}
