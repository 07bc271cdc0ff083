/**
 * The one place that loads the native addon.
 *
 * `node-gyp-build` finds `prebuilds/<platform>-<arch>/` or `build/Release/gated.node` under the
 * package root (the folder above `lib/` and above `dist/`: this file is one level below the root both
 * as `lib/native.ts` under vitest and as `dist/native.js` after `tsc`).
 * `GATED_ADDON_PATH` (absolute path of a `.node` file) loads that file instead; CI uses it to run the
 * tests against the sanitizer build (`build-asan/Release/gated.node`).
 *
 * Loading is lazy and never throws at import time: a failure is recorded and every use of the native
 * backend then throws a {@link NativeError} whose `cause` is the loader's error, while the pure-JS
 * backend keeps working.
 *
 * The addon's surface (native/binding/binding.cc) is internal; only lib/backend/native.ts,
 * lib/train/native.ts, lib/nn/native.ts and tests call it. Its optional parts (`exports.train`,
 * `exports.nn`) are reached through {@link addonPart}.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

import { NativeError } from './errors.js';
import type { NativeJordanOps } from './nn/jordan.js';
import type { NativeStepOps } from './ops/step.js';
import type { NativeNnOps } from './nn/native.js';
import type { NativeTrainOps } from './train/native.js';

/** One argument object of a raw cell op: the fields of lib/backend/types.ts plus outputs and `async`. */
export type NativeCallArgs = { readonly [field: string]: unknown };

/** A raw cell op: returns undefined (sync) or a Promise (when `args.async === true`). */
export type NativeCellOp = (args: NativeCallArgs) => undefined | Promise<void>;

/** Test-only entry points of the addon (kernel table switching, GEMM and math kernels). */
export interface NativeInternals {
  setIsa(name: string): boolean;
  getIsa(): string;
  bestIsa(): string;
  isaAvailable(name: string): boolean;
  /** The active, best and available instruction sets, GATED_ISA as read at load and why it was not followed (native/dispatch.h). */
  isaInfo(): { active: string; best: string; available: string[]; requested: string; notice: string };
  sgemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number,
    C: Float32Array, ldc: number, accumulate: boolean,
  ): void;
  sgemmReference(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: Float32Array, lda: number, B: Float32Array, ldb: number,
    C: Float32Array, ldc: number, accumulate: boolean,
  ): void;
  mathExp(x: Float32Array, y: Float32Array): void;
  mathSigmoid(x: Float32Array, y: Float32Array): void;
  mathTanh(x: Float32Array, y: Float32Array): void;
}

/** The raw exports of gated.node. */
export interface NativeAddon {
  rnnForward: NativeCellOp;
  rnnBackward: NativeCellOp;
  lstmForward: NativeCellOp;
  lstmBackward: NativeCellOp;
  gruForward: NativeCellOp;
  gruBackward: NativeCellOp;
  setThreads(n: number): void;
  getThreads(): number;
  internals: NativeInternals;
  /** The training ops (native/binding/train_binding.cc); absent when the addon was built without them. */
  train?: NativeTrainOps;
  /** The layer kernels (native/binding/nn_binding.cc); absent when the addon was built without them. */
  nn?: NativeNnOps;
  /** The Jordan network kernels (native/binding/jordan_binding.cc); absent when the addon was built without them. */
  jordan?: NativeJordanOps;
  /** The decode step (native/binding/step_binding.cc); absent when the addon was built without it. */
  step?: NativeStepOps;
}

/** The addon's optional parts, and what each holds (for the error when one is missing). */
const PARTS = { train: 'training kernels', nn: 'layer kernels', jordan: 'Jordan network kernels', step: 'decode step' } as const;

/** Name of an optional part of the addon: `'train'`, `'nn'`, `'jordan'` or `'step'`. */
export type AddonPartName = keyof typeof PARTS;

/** Folder holding package.json, binding.gyp, build/ and prebuilds/. */
export const packageRoot: string = resolve(dirname(fileURLToPath(import.meta.url)), '..');

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

/** Whether the addon loads and has its optional part `exports[name]`. Triggers loading; never throws. */
export function addonHasPart(name: AddonPartName): boolean {
  tryLoad();
  return loaded?.[name] !== undefined;
}

/**
 * The addon's optional part `exports[name]`. Throws a {@link NativeError} when the addon cannot be
 * loaded (see {@link loadAddon}) or was built without that part.
 */
export function addonPart<K extends AddonPartName>(name: K): NonNullable<NativeAddon[K]> {
  const part: NativeAddon[K] = loadAddon()[name];
  if (part === undefined) {
    throw new NativeError(
      `the native addon has no ${PARTS[name]} (exports.${name}): rebuild it (\`npm run build:native\`), or use the 'js' backend`,
    );
  }
  return part;
}

/**
 * Runs `fn` on the addon's optional part `exports[name]` ({@link addonPart}); what it throws goes
 * through `mapError` (lib/backend/native.ts's `mapNativeError`, passed in because that module imports
 * this one).
 */
export function callAddonPart<K extends AddonPartName, R>(
  name: K, fn: (part: NonNullable<NativeAddon[K]>) => R, mapError: (err: unknown) => unknown,
): R {
  const part = addonPart(name);
  try {
    return fn(part);
  } catch (err) {
    throw mapError(err);
  }
}
