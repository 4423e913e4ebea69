// A worker thread that samples a process tree's memory (Pss) until told to stop, off the load generator's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { treePssBytes } from './proc-stats.js';

const { root, intervalMs } = workerData as { root: number; intervalMs: number };
let max = treePssBytes(root);
const timer = setInterval(() => {
  max = Math.max(max, treePssBytes(root));
}, intervalMs);

parentPort?.once('message', () => {
  clearInterval(timer);
  max = Math.max(max, treePssBytes(root));
  parentPort?.postMessage(max);
});
