// Ending a connection whose peer may never read or close: a polite FIN first, then a reset after a short wait.
import type { Socket } from 'node:net';

/** How long a peer gets to read our last reply and close its side before the connection is reset. */
export const HANG_UP_GRACE_MS = 2000;

/**
 * Half-closes `socket` (after writing `last`, if given), and resets the TCP connection underneath if the peer
 * keeps its side open for longer than the grace: a peer that never reads or never closes must not keep our
 * file descriptor.
 *
 * `tcp` is the socket the connection was accepted on. After STARTTLS or on an implicit-TLS port, `socket` is a
 * TLSSocket wrapping it, and Node refuses resetAndDestroy() on a TLS socket (ERR_INVALID_HANDLE_TYPE): thrown from
 * the timer, that took the whole process down. The reset therefore always goes to the TCP socket, and nothing in
 * the timer may throw.
 */
export function hangUp(
  socket: Socket,
  tcp: Socket,
  opts: { readonly last?: string; readonly onReset?: () => void; readonly closeOnceWritten?: boolean } = {},
): void {
  const { last, onReset } = opts;
  // After QUIT nothing more is owed: close(2) as soon as our reply is in the kernel's hands, which then sends it and
  // the FIN. A half-close would wait on the peer, and most clients (Postfix's smtp-source, for one) answer the 221
  // with a reset: shutdown(2) then fails with ENOTCONN and the next read with ECONNRESET, two error objects per
  // session for nothing. TLS keeps end(), which sends its close_notify first.
  const closeOnceWritten = opts.closeOnceWritten === true && socket === tcp;
  if (closeOnceWritten) {
    try {
      if (last !== undefined) socket.write(last);
      // Usually written at once (writableLength 0: all of it in the kernel): nothing left to wait for.
      if (socket.writableLength === 0) return void socket.destroy();
    } catch {
      return reset(tcp, socket);
    }
  }
  const timer = setTimeout(() => {
    reset(tcp, socket);
    try {
      onReset?.();
    } catch {
      // Only a log line; nothing thrown from here may reach the process.
    }
  }, HANG_UP_GRACE_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
  tcp.once('close', () => clearTimeout(timer));
  try {
    if (closeOnceWritten) socket.write('', () => socket.destroy()); // close once the rest is written
    else if (last === undefined) socket.end();
    else socket.end(last);
  } catch {
    reset(tcp, socket);
  }
}

/** RST at once (the peer learns the connection is gone); never throws. */
export function reset(tcp: Socket, outer: Socket = tcp): void {
  try {
    tcp.resetAndDestroy();
  } catch {
    // Not a TCP handle after all (a test's stream pair, a socket already handed over): a plain destroy will do.
    tcp.destroy();
  }
  if (outer !== tcp) outer.destroy();
}
