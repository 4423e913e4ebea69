// The metrics operators chart, in Prometheus's conventions (facteur_…_total counters, base units), kept in one
// registry per running app and passed to whatever counts: no module-level registry, so tests can run apps side by side.
import { AggregatorRegistry, collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type MetricObjectWithValues, type MetricValue } from 'prom-client';

/** "2xx", "4xx", "5xx": the class of a reply, as a label with few values. */
export const replyClass = (code: number): string => `${Math.floor(code / 100)}xx`;

/** Buckets for disk flushes and commits: from a tenth of a millisecond to a few seconds. */
const DISK_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

/** What the queue reports when scraped (the queue itself is the truth; no counter to keep in step). */
export interface QueueGaugeSource {
  /** Messages in the queue by state: "pending" (not yet tried or being tried) and "deferred" (waiting for a retry). */
  countByState(): Readonly<Record<'pending' | 'deferred', number>>;
  /** Arrival time (ms since the epoch) of the oldest message, or null when the queue is empty. */
  oldestArrival(): number | null;
}

export class Metrics {
  readonly registry = new Registry();

  readonly sessionsOpen = new Gauge({ name: 'facteur_smtp_sessions_open', help: 'SMTP sessions open now', labelNames: ['server'], registers: [this.registry] });
  readonly sessions = new Counter({ name: 'facteur_smtp_sessions_total', help: 'SMTP sessions ended, by how they ended', labelNames: ['server', 'end'], registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'facteur_smtp_connections_refused_total', help: 'Connections refused before the greeting, by reply', labelNames: ['server', 'code'], registers: [this.registry] });
  readonly tlsSessions = new Counter({ name: 'facteur_smtp_tls_sessions_total', help: 'TLS sessions established (implicit or STARTTLS), by protocol version', labelNames: ['server', 'version'], registers: [this.registry] });
  readonly messages = new Counter({ name: 'facteur_smtp_messages_total', help: 'Message transfers (end of DATA), by the class of our reply: 2xx accepted, 4xx deferred, 5xx refused', labelNames: ['server', 'reply'], registers: [this.registry] });
  readonly messageBytes = new Counter({ name: 'facteur_smtp_message_bytes_total', help: 'Bytes of accepted messages, as stored', labelNames: ['server'], registers: [this.registry] });
  readonly commands = new Counter({ name: 'facteur_smtp_commands_total', help: 'SMTP commands, by verb (RCPT: recipients) and the class of our reply', labelNames: ['server', 'verb', 'reply'], registers: [this.registry] });
  readonly commitSeconds = new Histogram({ name: 'facteur_smtp_commit_duration_seconds', help: 'Time from the final dot to a durable message (file and folder flushed)', labelNames: ['server'], buckets: DISK_BUCKETS, registers: [this.registry] });
  readonly deliveryAttempts = new Counter({ name: 'facteur_delivery_attempts_total', help: 'Outbound delivery attempts per recipient domain, by outcome', labelNames: ['outcome'], registers: [this.registry] });
  readonly dnsLookups = new Counter({ name: 'facteur_dns_lookups_total', help: 'DNS lookups, by record type and result', labelNames: ['type', 'result'], registers: [this.registry] });
  readonly fsyncSeconds = new Histogram({ name: 'facteur_fsync_duration_seconds', help: 'Duration of fsync/fdatasync calls, by what was flushed', labelNames: ['what'], buckets: DISK_BUCKETS, registers: [this.registry] });

  private queue: QueueGaugeSource | null = null;
  private workers: (() => Promise<unknown[]>) | null = null;

  constructor() {
    const queue = (): QueueGaugeSource | null => this.queue;
    new Gauge({
      name: 'facteur_queue_messages',
      help: 'Messages in the outbound queue, by state',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const q = queue();
        if (q === null) return;
        for (const [state, n] of Object.entries(q.countByState())) this.set({ state }, n);
      },
    });
    new Gauge({
      name: 'facteur_queue_oldest_message_age_seconds',
      help: 'Age of the oldest message in the outbound queue (0 when empty)',
      registers: [this.registry],
      collect() {
        const oldest = queue()?.oldestArrival() ?? null;
        this.set(oldest === null ? 0 : Math.max(0, (Date.now() - oldest) / 1000));
      },
    });
    // The process's own: CPU, memory, event-loop lag, open file descriptors (prom-client's standard set).
    collectDefaultMetrics({ register: this.registry, prefix: 'facteur_' });
  }

  /** The outbound queue reports its size when scraped. */
  watchQueue(source: QueueGaugeSource): void {
    this.queue = source;
  }

  /**
   * Worker processes (src/workers): the primary's /metrics adds up its own metrics and each worker's, so that one
   * scrape describes the whole server (counters and gauges summed, as prom-client's AggregatorRegistry does).
   */
  aggregateWith(workers: () => Promise<unknown[]>): void {
    this.workers = workers;
  }

  /** This process's metrics as prom-client's JSON, for the primary to aggregate. */
  json(): Promise<unknown> {
    return this.registry.getMetricsAsJSON();
  }

  /** Prometheus text format. */
  async text(): Promise<string> {
    if (this.workers === null) return this.registry.metrics();
    const all = [await this.registry.getMetricsAsJSON(), ...(await this.workers())] as MetricObjectWithValues<MetricValue<string>>[][];
    return AggregatorRegistry.aggregate(all).metrics();
  }
}
