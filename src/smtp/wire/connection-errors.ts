// Errors that end a connection rather than a command: the peer went away, or a wait timed out.
import { ConnectionClosedError } from './byte-reader.js';

/** True for a closed connection and for the TimeoutError/AbortError of an aborted wait. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof ConnectionClosedError) return true;
  const name = (err as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || name === 'AbortError';
}

export const isTimeout = (err: unknown): boolean => (err as { name?: unknown } | null)?.name === 'TimeoutError';
