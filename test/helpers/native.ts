/** Calling the addon's raw ops from tests (what lib/backend/index.ts's native backend does for an op's plan). */
import { loadAddon, type NativeCallArgs, type NativeOpFn } from '../../lib/backend/addon.js';
import { nativeBackend } from '../../lib/backend/index.js';

/** The addon's op `name` as it is exported (fields plus `async`; raw errors with `code`). */
export function rawOp(name: string): NativeOpFn {
  return loadAddon()[name] as NativeOpFn;
}

/** Runs the addon's op `name` on `fields` off the main thread through the native backend (typed errors). */
export function runNative(name: string, fields: NativeCallArgs): Promise<unknown> {
  const { async: _, ...rest } = fields;
  return nativeBackend.runAsync(name, {
    js: () => {
      throw new Error('native only');
    },
    native: () => ({ fields: rest, result: (r: unknown) => r }),
  });
}
