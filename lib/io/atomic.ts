/**
 * Crash-safe file replacement: write a temporary file beside the target, flush it to disk, then
 * rename it over the target. POSIX `rename` within one directory is atomic, so a reader (or a
 * process that starts after a crash, power loss or SIGKILL) sees either the old complete file or the
 * new complete file, never a mix or a truncated one.
 *
 * The temporary file lives in the SAME directory as the target because `rename` is only atomic
 * within one filesystem; a temp file in `os.tmpdir()` may sit on another mount (EXDEV).
 *
 * What a crash can leave behind: the target is always whole, but a process killed between creating
 * the temporary file and renaming it leaves a stale `.<basename>.<pid>.<random>.tmp` beside it.
 * {@link cleanupTempFiles} removes those.
 */

import { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';
import { boolOr, checkInt, objectArgs } from '../check.js';
import { GatedError, ValueError } from '../errors.js';

/**
 * A filesystem operation failed (missing directory, permission denied, disk full...).
 * `argument` is the path of the file at fault; `code` is Node's errno code (`'ENOENT'`, ...), and
 * `cause` the original error.
 */
export class FileError extends GatedError {
  /** Node's errno code of the underlying failure, e.g. `'ENOENT'`, if it had one. */
  readonly code: string | undefined;
  constructor(message: string, path: string, cause?: unknown) {
    super(message, path);
    this.code = errnoCode(cause);
    if (cause !== undefined) this.cause = cause;
  }
}

/** Options of {@link writeFileAtomic} and {@link writeFileAtomicAsync}. */
export interface AtomicWriteOptions {
  /**
   * Permission bits of a newly created file (the process umask still applies). The new file
   * replaces the old one, so an existing file's mode is not kept. Default: `0o666`.
   */
  readonly mode?: number;
  /**
   * Flush the file and its directory to stable storage before returning. Without it the rename is
   * still atomic with respect to a crash of the process (the page cache survives a SIGKILL), but
   * not to a power loss or kernel crash. Default: `true`.
   */
  readonly fsync?: boolean;
}

/** Bytes to write: one buffer, or several written back to back (no concatenated copy is made). */
export type FileData = Uint8Array | readonly Uint8Array[];

/**
 * Replace the file at `path` with `data`, atomically: after a crash at any moment the file is
 * either absent (if it did not exist), the old complete file, or the new complete file.
 *
 * Steps: create `.<basename>.<pid>.<random>.tmp` in the target's directory (exclusive create), write
 * all of `data`, fsync it, close, rename over `path`, fsync the directory so the rename itself is
 * durable. On any error the temporary file is removed and a {@link FileError} naming `path` is thrown.
 *
 * Directory fsync: skipped on Windows, where a directory cannot be opened for fsync (Node reports
 * EISDIR/EPERM) and `rename` is made durable by the filesystem itself; on POSIX, EINVAL/ENOTSUP from
 * filesystems that do not support fsync on a directory are ignored. Any other error is thrown.
 *
 * A symlink at `path` is replaced by a regular file, not followed.
 *
 * @param path Target file. Its directory must exist.
 * @param data Bytes to write, one buffer or a list of chunks.
 * @param options See {@link AtomicWriteOptions}.
 * @throws {FileError} if the directory is missing, not writable, the disk is full, etc.
 * @throws {ValueError} if `data` is not a Uint8Array or an array of them.
 */
export function writeFileAtomic(path: string, data: FileData, options: AtomicWriteOptions = {}): void {
  const chunks = checkArgs(path, data);
  const { mode, fsync } = writeOptions(options);
  const tmp = tempPathFor(path);
  let fd: number | undefined;
  try {
    // 'wx': fail rather than share a file if the random name ever collided.
    fd = openSync(tmp, 'wx', mode);
    for (const chunk of chunks) writeAllSync(fd, chunk);
    if (fsync) fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (error) {
    if (fd !== undefined) ignoreErrors(() => closeSync(fd as number));
    ignoreErrors(() => unlinkSync(tmp));
    throw writeError(error, path);
  }
  if (fsync) fsyncDirectorySync(dirname(path), path);
}

/**
 * Async version of {@link writeFileAtomic}, with the same guarantees. Concurrent calls on the same
 * path are safe: each uses its own temporary file and the last rename wins.
 */
export async function writeFileAtomicAsync(path: string, data: FileData, options: AtomicWriteOptions = {}): Promise<void> {
  const chunks = checkArgs(path, data);
  const { mode, fsync } = writeOptions(options);
  const tmp = tempPathFor(path);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx', mode);
    for (const chunk of chunks) {
      // FileHandle.write may write less than asked (large buffers); loop until done.
      let offset = 0;
      while (offset < chunk.byteLength) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
    }
    if (fsync) await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (error) {
    if (handle !== undefined) await handle.close().catch(() => undefined);
    await unlink(tmp).catch(() => undefined);
    throw writeError(error, path);
  }
  if (fsync) await fsyncDirectoryAsync(dirname(path), path);
}

/**
 * Remove stale temporary files that {@link writeFileAtomic} left beside `dir/basename` when a
 * process was killed mid-write (SIGKILL, power loss). Files whose writer process is still alive are
 * kept, so this is safe to call while other processes (or this one) write the same target.
 *
 * @param dir Directory of the target file.
 * @param base File name of the target (no directory), e.g. `'model.safetensors'`; omitted: the
 *   temporary files of every target in `dir` (e.g. at the start of a service that saves there).
 * @returns The paths removed.
 * @throws {FileError} if `dir` cannot be listed.
 */
export function cleanupTempFiles(dir: string, base?: string): string[] {
  if (typeof dir !== 'string' || dir === '')
    throw new ValueError(`expected a directory path, got ${dir === null ? 'null' : typeof dir}`, 'dir');
  if (base !== undefined && (typeof base !== 'string' || base === ''))
    throw new ValueError(`expected a file name, got ${base === null ? 'null' : typeof base}`, 'base');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw toFileError(error, dir, 'cannot list directory');
  }
  const removed: string[] = [];
  for (const name of names) {
    // `.<base>.<pid>.<hex>.tmp`, the name tempPathFor gives.
    const match = TEMP_NAME.exec(name);
    if (match === null || (base !== undefined && match[1] !== base)) continue;
    if (isProcessAlive(Number(match[2]))) continue;
    const full = join(dir, name);
    try {
      unlinkSync(full);
      removed.push(full);
    } catch (error) {
      // Another cleaner got there first: fine.
      if (errnoCode(error) !== 'ENOENT') throw toFileError(error, full, 'cannot remove');
    }
  }
  return removed;
}

// ---------------------------------------------------------------------------------------------
// Internals

/** A temporary file's name: `.<target>.<pid>.<hex>.tmp` (groups: the target's name, the pid). */
const TEMP_NAME = /^\.(.+)\.(\d+)\.[0-9a-f]+\.tmp$/;

/** `.<basename>.<pid>.<random>.tmp` in the target's own directory (see the module comment). */
function tempPathFor(path: string): string {
  const name = `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  return join(dirname(path), name);
}

/** The checked {@link AtomicWriteOptions}, defaults filled in (a ValueError naming the option otherwise). */
function writeOptions(options: unknown): { mode: number; fsync: boolean } {
  // Other keys are let through: callers pass their own options objects that extend these.
  const o = options === undefined ? {} : objectArgs(options, 'options');
  return {
    mode: o.mode === undefined ? 0o666 : checkInt(o.mode, 'options.mode', 0, 0o7777),
    fsync: boolOr(o.fsync, true, 'options.fsync'),
  };
}

function checkArgs(path: string, data: FileData): readonly Uint8Array[] {
  if (typeof path !== 'string' || path.length === 0) {
    throw new ValueError('expected a non-empty file path string', 'path');
  }
  const chunks = data instanceof Uint8Array ? [data] : data;
  if (!Array.isArray(chunks) || !chunks.every((c) => c instanceof Uint8Array)) {
    throw new ValueError('expected a Uint8Array or an array of Uint8Array', 'data');
  }
  return chunks;
}

/** ENOENT while writing almost always means the target's directory is missing: say so. */
function writeError(error: unknown, path: string): GatedError {
  if (errnoCode(error) === 'ENOENT') {
    return new FileError(`cannot write: directory ${dirname(path)} does not exist (ENOENT)`, path, error);
  }
  return toFileError(error, path, 'cannot write');
}

/** writeSync may write less than asked; loop until the whole chunk is out. */
function writeAllSync(fd: number, chunk: Uint8Array): void {
  let offset = 0;
  while (offset < chunk.byteLength) {
    offset += writeSync(fd, chunk, offset, chunk.byteLength - offset);
  }
}

/** errno codes that mean "this filesystem cannot fsync a directory", not a real failure. */
const DIR_FSYNC_UNSUPPORTED = new Set(['EINVAL', 'ENOTSUP', 'EOPNOTSUPP']);

function fsyncDirectorySync(dir: string, path: string): void {
  if (process.platform === 'win32') return;
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch (error) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(error) ?? '')) {
      throw toFileError(error, path, `written, but cannot fsync directory ${dir}`);
    }
  } finally {
    if (fd !== undefined) ignoreErrors(() => closeSync(fd as number));
  }
}

async function fsyncDirectoryAsync(dir: string, path: string): Promise<void> {
  if (process.platform === 'win32') return;
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(error) ?? '')) {
      throw toFileError(error, path, `written, but cannot fsync directory ${dir}`);
    }
  } finally {
    if (handle !== undefined) await handle.close().catch(() => undefined);
  }
}

function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return errnoCode(error) === 'EPERM';
  }
}

function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Wrap a Node fs error in a {@link FileError} naming `path`, with a message a user can act on.
 * Errors gated already typed pass through. Shared with the other `io/` modules.
 * @internal
 */
export function toFileError(error: unknown, path: string, what: string): GatedError {
  if (error instanceof GatedError) return error;
  const code = errnoCode(error);
  const reason =
    code === 'ENOENT'
      ? `${what}: no such file or directory`
      : code === 'EACCES' || code === 'EPERM'
        ? `${what}: permission denied`
        : code === 'ENOSPC'
          ? `${what}: no space left on device`
          : code === 'EISDIR'
            ? `${what}: is a directory`
            : `${what}: ${error instanceof Error ? error.message : String(error)}`;
  return new FileError(code ? `${reason} (${code})` : reason, path, error);
}

function ignoreErrors(f: () => void): void {
  try {
    f();
  } catch {
    // best effort cleanup: the original error is what the caller needs to see
  }
}
