// Socket activation (sd_listen_fds(3)): listening sockets that systemd opened and handed over as fds 3, 4, …, so
// facteur can serve ports 25/465/587 without root or a capability. Each is matched to a configured listen address.
import { createServer, type Server } from 'node:net';

/** The first fd systemd passes (SD_LISTEN_FDS_START). */
const FIRST_FD = 3;

export interface InheritedSocket {
  readonly server: Server;
  readonly host: string;
  readonly port: number;
}

/**
 * The listening sockets passed to this process, already listening (we never bind them). Empty unless LISTEN_PID
 * names this process (the variables may have been meant for a parent). The variables are removed from `env`, so
 * that a child process never takes the sockets for its own.
 */
export async function inheritedSockets(env: NodeJS.ProcessEnv, pid = process.pid): Promise<InheritedSocket[]> {
  const count = Number(env.LISTEN_FDS ?? '0');
  const forUs = env.LISTEN_PID === String(pid);
  delete env.LISTEN_PID;
  delete env.LISTEN_FDS;
  delete env.LISTEN_FDNAMES;
  if (!forUs || !Number.isInteger(count) || count <= 0) return [];
  const out: InheritedSocket[] = [];
  for (let fd = FIRST_FD; fd < FIRST_FD + count; fd++) {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error(`fd ${fd} from systemd is not a TCP listening socket`);
    out.push({ server, host: address.address, port: address.port });
  }
  return out;
}

/** Takes, from `sockets`, the one bound to host:port ("::" and "0.0.0.0" match only themselves), if any. */
export function takeInherited(sockets: InheritedSocket[], host: string, port: number): Server | null {
  const i = sockets.findIndex((s) => s.port === port && sameHost(s.host, host));
  if (i < 0) return null;
  return sockets.splice(i, 1)[0]!.server;
}

/** "::ffff:127.0.0.1" and "127.0.0.1" are one address; IPv6 spellings compared as Node prints them. */
function sameHost(a: string, b: string): boolean {
  const plain = (h: string): string => (h.startsWith('::ffff:') && h.includes('.') ? h.slice(7) : h).toLowerCase();
  return plain(a) === plain(b);
}
