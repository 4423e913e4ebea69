// Errors that end a connection rather than a command: the peer went away, or a wait timed out.
import { ConnectionClosedError } from './byte-reader.js';

/** True for a closed connection and for the TimeoutError/AbortError of an aborted wait. */
export function isConnectionError(err: unknown): boolean {
  if (err instanceof ConnectionClosedError) return true;
  const { name, code } = (err ?? {}) as { name?: unknown; code?: unknown };
  if (name === 'TimeoutError' || name === 'AbortError') return true;
  // A peer resetting the connection or breaking TLS is the network's doing, not a bug of ours.
  return typeof code === 'string' && (NETWORK_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_'));
}

const NETWORK_CODES = new Set(['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH']);

export const isTimeout = (err: unknown): boolean => (err as { name?: unknown } | null)?.name === 'TimeoutError';
