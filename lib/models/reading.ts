/** What the readers of model and checkpoint files share: FormatErrors naming the field, and small checks. */
import { FormatError, GatedError } from '../errors.js';
import type { Kind } from '../layers/values.js';

/** Builds a FormatError naming `argument` (the message says where the description came from). */
export type Fail = (argument: string, message: string) => FormatError;

/** A FormatError maker for what was read from `source` (a path, or 'bytes'). */
export function failIn(source: string): Fail {
  return (argument, message) => new FormatError(`${message} (in ${source})`, argument);
}

/** What the caller expects of a model being loaded (checked against its description). */
export interface ExpectedKinds {
  readonly inputKind?: Kind;
  readonly outputKind?: Kind;
}

/** `s` quoted for a message, cut at 100 characters. */
export const quote = (s: string): string => JSON.stringify(s.length > 100 ? `${s.slice(0, 100)}...` : s);

/** A plain object (not null, an array or a typed array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/** An array of non-negative integers. */
export function isShape(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => typeof d === 'number' && Number.isSafeInteger(d) && d >= 0);
}

/** `[2, 3]`. */
export const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** The dtypes a weight may have in a file (converted to float32 on load). */
export const FLOAT_DTYPES: readonly string[] = ['F32', 'F16', 'BF16', 'F64'];

/** The bare message of an error (without gated's `argument: ` prefix). */
export function bareMessage(e: unknown): string {
  if (e instanceof GatedError && e.argument !== undefined && e.message.startsWith(`${e.argument}: `)) {
    return e.message.slice(e.argument.length + 2);
  }
  return e instanceof Error ? e.message : String(e);
}
