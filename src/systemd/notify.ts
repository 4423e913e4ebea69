// sd_notify(3): telling systemd (Type=notify) that facteur is ready, reloading or stopping, through the datagram
// socket named in NOTIFY_SOCKET. Node has no Unix datagram sockets of its own: the small `unix-dgram` addon sends.
import { createRequire } from 'node:module';
import type { Logger } from '../observability/logger.js';

/** Sends one state line ("READY=1", "STOPPING=1", …); never throws, never blocks. */
export type Notify = (state: string) => void;

interface DgramSocket {
  on(event: 'error', listener: (err: Error) => void): void;
  send(buf: Buffer, offset: number, length: number, path: string, callback?: (err?: Error) => void): void;
  close(): void;
}
interface UnixDgram {
  createSocket(type: 'unix_dgram'): DgramSocket;
}

/**
 * The notifier for this process: a no-op when systemd did not ask for notifications (no NOTIFY_SOCKET), or when
 * the addon could not be built on this machine (then a warning says that Type=notify cannot work).
 */
export function systemdNotifier(env: NodeJS.ProcessEnv, logger: Logger): Notify {
  const target = env.NOTIFY_SOCKET;
  if (target === undefined || target === '') return () => undefined;
  // "@name" is a socket in the abstract namespace (sd_notify(3)).
  const path = target.startsWith('@') ? `\0${target.slice(1)}` : target;
  let dgram: UnixDgram;
  try {
    dgram = createRequire(import.meta.url)('unix-dgram') as UnixDgram;
  } catch (err) {
    logger.warn({ event: 'sd-notify-unavailable', err: (err as Error).message }, 'NOTIFY_SOCKET is set but the unix-dgram addon is not installed: systemd will not hear READY=1 (use Type=exec)');
    return () => undefined;
  }
  return (state) => {
    try {
      const socket = dgram.createSocket('unix_dgram');
      socket.on('error', (err) => logger.warn({ event: 'sd-notify-failed', state, err: err.message }, 'could not notify systemd'));
      const message = Buffer.from(state);
      socket.send(message, 0, message.length, path, () => socket.close());
    } catch (err) {
      logger.warn({ event: 'sd-notify-failed', state, err: (err as Error).message }, 'could not notify systemd');
    }
  };
}

/** "RELOADING=1" with the MONOTONIC_USEC systemd 253+ asks for (Type=notify-reload), as one message. */
export function reloadingState(): string {
  const usec = process.hrtime.bigint() / 1000n;
  return `RELOADING=1\nMONOTONIC_USEC=${usec}`;
}
