// unlink(2) that takes "already gone" for success.
import { unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { errorCode } from './error-code.js';

/** Removes `path`; resolves false if there was nothing to remove, throws any other error. */
export async function unlinkIfPresent(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}

/** The same, synchronously: for start-up work done before anything is served. */
export function unlinkIfPresentSync(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return false;
    throw err;
  }
}
