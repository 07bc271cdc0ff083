/**
 * Typed errors. Every error gated throws for bad input names the argument at fault in `argument`
 * and starts its message with it, e.g. `weightIh: expected length 4096 (4*hiddenSize*inputSize), got 4095`.
 */

/** Base class of every error gated throws on purpose. */
export class GatedError extends Error {
  /** The argument at fault (dotted path for nested fields, e.g. `options.lengths`), if any. */
  readonly argument: string | undefined;
  constructor(message: string, argument?: string) {
    // Whatever a caller passes (these classes are exported), the constructor itself never throws.
    const m = text(message);
    const a = argument === undefined || argument === null ? undefined : text(argument);
    super(a ? `${a}: ${m}` : m);
    this.name = new.target.name;
    this.argument = a;
  }
}

/** `v` as text for a message: strings as they are, anything else through String(), or its type where that throws. */
function text(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return String(v);
  } catch {
    return `<${typeof v}>`;
  }
}

/** An array has the wrong length or a size does not fit the others. */
export class ShapeError extends GatedError {}

/** A value is of the wrong type or outside its allowed range (NaN, negative size, bad enum...). */
export class ValueError extends GatedError {}

/** A long-running call was cancelled through its AbortSignal. */
export class AbortError extends GatedError {
  constructor(message = 'The operation was aborted') {
    super(message);
  }
}

/** The native addon could not be loaded or lacks a feature; the pure-JS backend still works. */
export class NativeError extends GatedError {}

/** A file is not in the expected format: truncated, corrupt, wrong dtype or not matching its description. */
export class FormatError extends GatedError {}

/** The object is in use in a way that excludes this call (e.g. `fit` on a model that is already training). */
export class BusyError extends GatedError {}

/**
 * Training produced a non-finite number (a NaN or infinite loss or gradient: it diverged). `fit`
 * throws it naming the batch (`argument`: `data[i]`, the message gives the epoch), with the weights
 * left as after the last good batch.
 */
export class NumericError extends GatedError {}
