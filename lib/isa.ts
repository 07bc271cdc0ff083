/**
 * Which instruction set the native kernels run (native/dispatch.h).
 *
 * At load the addon picks the best one this CPU runs: on x86-64 `'avx512'` (AVX-512F, 16 floats per
 * vector) over `'avx2'` (AVX2+FMA) over `'scalar'`; on arm64 `'neon'`. The environment variable
 * `GATED_ISA` (read once, when the addon loads) forces another one, e.g. `GATED_ISA=avx2` on a CPU
 * that slows its clock while running 512-bit code. A value this CPU or build cannot run does not
 * stop the load: the best instruction set runs, the reason is in {@link isaInfo}`().notice`, and a
 * process warning with code `'GATED_ISA'` says so.
 *
 * Results: AVX2 and AVX-512 give the same bits (every kernel is lane-wise and fuses the same
 * multiply-adds in the same order); the scalar build rounds each product separately and differs in
 * the last bits (within the parity tests' tolerance of the float64 reference).
 */
import { ValueError } from './errors.js';
import { loadAddon } from './backend/addon.js';

/** An instruction set the native kernels can be built for. */
export type IsaName = 'avx512' | 'avx2' | 'neon' | 'scalar';

/** What {@link isaInfo} returns. */
export interface IsaInfo {
  /** The instruction set the kernels run now. */
  readonly active: IsaName;
  /** The best one this CPU runs (what the addon starts with unless `GATED_ISA` says otherwise). */
  readonly best: IsaName;
  /** Every instruction set this build has and this CPU runs, best first (`'scalar'` last). */
  readonly available: readonly IsaName[];
  /** `GATED_ISA` as read when the addon loaded, or null when it was unset or empty. */
  readonly requested: string | null;
  /** Why `GATED_ISA` was not followed, or null. */
  readonly notice: string | null;
}

/** The native kernels' instruction sets. Throws a `NativeError` when the addon cannot load. */
export function isaInfo(): IsaInfo {
  const i = loadAddon().internals.isaInfo();
  return {
    active: i.active as IsaName,
    best: i.best as IsaName,
    available: i.available as IsaName[],
    requested: i.requested === '' ? null : i.requested,
    notice: i.notice === '' ? null : i.notice,
  };
}

/**
 * Switches the native kernels to instruction set `name` (one of {@link isaInfo}`().available`), for
 * every later call. Call it while no native op runs (at start-up): an op already running on a worker
 * thread may see the switch half-way (it stays memory-safe, but its result is then neither set's).
 * Throws a `ValueError` (argument `name`) for a set this CPU or build cannot run.
 */
export function setIsa(name: IsaName): void {
  const addon = loadAddon();
  if (typeof name !== 'string' || !addon.internals.setIsa(name)) {
    const available = addon.internals.isaInfo().available.join(', ');
    const got = typeof name === 'string' ? JSON.stringify((name as string).slice(0, 40)) : typeof name;
    throw new ValueError(`expected one of ${available} (the instruction sets this CPU runs), got ${got}`, 'name');
  }
}
