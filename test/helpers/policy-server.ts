// An HTTPS server on a loopback address serving an MTA-STS policy (RFC 8461 §3.3), or misbehaving as a test asks.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type net from 'node:net';

export interface PolicyServerOptions {
  /** A loopback address: "127.0.0.21", … */
  readonly host: string;
  /** The server's certificate chain and key (PEM), e.g. from helpers/test-ca.ts. */
  readonly cert: { readonly chain: string; readonly key: string };
  /** The policy text served at /.well-known/mta-sts.txt as text/plain (default: none, 404). */
  readonly policy?: string;
  /** Answers every request instead (a redirect, garbage, a reply that never comes…). */
  readonly handle?: (req: IncomingMessage, res: ServerResponse) => void;
}

export interface PolicyServer {
  readonly host: string;
  readonly port: number;
  /** Paths requested, in order. */
  readonly requests: readonly string[];
  /** Replaces the policy served from now on. */
  setPolicy(policy: string | null): void;
  close(): Promise<void>;
}

export async function startPolicyServer(opts: PolicyServerOptions): Promise<PolicyServer> {
  const requests: string[] = [];
  let policy = opts.policy ?? null;
  const server = https.createServer({ cert: opts.cert.chain, key: opts.cert.key }, (req, res) => {
    requests.push(req.url ?? '');
    if (opts.handle !== undefined) return opts.handle(req, res);
    if (req.url !== '/.well-known/mta-sts.txt' || policy === null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(policy);
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.host, () => resolve((server.address() as net.AddressInfo).port));
  });
  return {
    host: opts.host,
    port,
    requests,
    setPolicy: (p) => {
      policy = p;
    },
    close: () =>
      new Promise<void>((resolve) => {
        // A handler that never answers leaves its connection open: close it too.
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
