// The Prometheus endpoint: GET /metrics in the text format, on the address of [metrics] listen (loopback by default).
import { createServer, type Server } from 'node:http';
import type { ListenAddress } from '../config/config.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';

export interface MetricsServer {
  /** "127.0.0.1:9187", port 0 resolved. */
  readonly address: string;
  close(): Promise<void>;
}

/** Binds and serves; rejects with the bind error (the caller names the address). */
export async function startMetricsServer(at: ListenAddress, metrics: Metrics, logger: Logger): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not found: the metrics are at /metrics\n');
      return;
    }
    metrics.text().then(
      (body) => res.writeHead(200, { 'Content-Type': metrics.registry.contentType }).end(req.method === 'HEAD' ? undefined : body),
      (err: unknown) => {
        logger.error({ event: 'metrics-failed', err }, 'could not collect the metrics');
        res.writeHead(500).end();
      },
    );
  });
  // A scraper is one request every few seconds: short timeouts keep idle sockets from piling up.
  server.requestTimeout = 10_000;
  server.headersTimeout = 5_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: at.host, port: at.port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => logger.error({ event: 'metrics-error', err }, 'error on the metrics listener'));
  const { port } = server.address() as { port: number };
  const host = at.host.includes(':') ? `[${at.host}]` : at.host;
  return {
    address: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
