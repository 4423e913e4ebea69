// The DKIM signatures' own thread (worker_threads): the RSA and Ed25519 private-key operations of the relay's
// messages, one after the other, beside the event loop. See threaded-signing.ts for why, and for the other side.
import { sign, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';

/** One signature to make: `hash` as node:crypto's sign takes it (null for Ed25519, which signs `data` as given). */
export interface SignRequest {
  readonly id: number;
  readonly hash: 'sha256' | null;
  readonly key: KeyObject;
  readonly data: Uint8Array;
}

/** A request's signature, or why node:crypto refused it. */
export type SignAnswer = { readonly id: number; readonly signature: Uint8Array } | { readonly id: number; readonly error: string };

const port = parentPort;
if (port === null) throw new Error('signing-thread.js runs as a worker thread');

// A batch in, its answers out as one message: the event loop is woken once for them, whatever their number.
port.on('message', (requests: readonly SignRequest[]) => {
  const answers: SignAnswer[] = requests.map((r) => {
    try {
      return { id: r.id, signature: sign(r.hash, r.data, r.key) };
    } catch (err) {
      return { id: r.id, error: err instanceof Error ? err.message : String(err) };
    }
  });
  port.postMessage(answers); // copied: 64 to 512 octets each, and a Buffer may share its memory with others
});
