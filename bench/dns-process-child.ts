// The child of dns-process.ts: a DNS server answering NXDOMAIN to every name, its address sent to the parent.
import { startDnsServer } from '../test/helpers/dns-server.js';

const server = await startDnsServer({});
process.send?.(server.address);
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)));
process.once('disconnect', () => void server.close().then(() => process.exit(0)));
