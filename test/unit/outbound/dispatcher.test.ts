// Dispatcher with a manual clock: due times, one timer, the limits and the jobs waiting for their domain.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Dispatcher, type Job } from '../../../src/outbound/dispatcher.js';
import { MAX_TIMER_MS } from '../../../src/time/timers.js';
import { deferred, ManualTime, T0 } from '../../helpers/queue-fixtures.js';

function setup(limits = { concurrency: 10, concurrencyPerDomain: 10 }, launch?: (job: Job) => Promise<void> | null) {
  const time = new ManualTime();
  const launched: string[] = [];
  const dispatcher = new Dispatcher({
    ...limits,
    now: time.read,
    timers: time,
    launch: launch ?? ((job) => (launched.push(`${job.id}@${job.domain}`), Promise.resolve())),
  });
  return { time, launched, dispatcher };
}

test('a job runs at its due time, not before; nothing runs before start()', () => {
  const { time, launched, dispatcher } = setup();
  dispatcher.schedule({ id: 'a', domain: 'd' }, T0);
  dispatcher.schedule({ id: 'b', domain: 'd' }, T0 + 1000);
  assert.deepEqual(launched, []);
  dispatcher.start();
  assert.deepEqual(launched, ['a@d']);
  assert.equal(time.nextTimer(), T0 + 1000, 'one timer, for the next due job');
  time.advanceTo(T0 + 999);
  assert.deepEqual(launched, ['a@d']);
  time.advanceTo(T0 + 1000);
  assert.deepEqual(launched, ['a@d', 'b@d']);
  assert.equal(time.nextTimer(), null);
});

test('scheduling a job again replaces its due time; a cancelled job never runs', () => {
  const { time, launched, dispatcher } = setup();
  dispatcher.start();
  dispatcher.schedule({ id: 'a', domain: 'd' }, T0 + 5000);
  dispatcher.schedule({ id: 'a', domain: 'd' }, T0 + 2000);
  dispatcher.schedule({ id: 'b', domain: 'd' }, T0 + 3000);
  dispatcher.cancel({ id: 'b', domain: 'd' });
  time.advanceTo(T0 + 10_000);
  assert.deepEqual(launched, ['a@d'], 'once, at the later scheduling\'s time, and b never');
});

test('a due time past the longest timer is reached by re-arming', () => {
  const { time, launched, dispatcher } = setup();
  dispatcher.start();
  const far = T0 + 3 * MAX_TIMER_MS;
  dispatcher.schedule({ id: 'a', domain: 'd' }, far);
  assert.equal(time.nextTimer(), T0 + MAX_TIMER_MS);
  time.advanceTo(T0 + MAX_TIMER_MS);
  assert.deepEqual(launched, []);
  time.advanceTo(far);
  assert.deepEqual(launched, ['a@d']);
});

test('the limits hold jobs back; a job that ends lets the one waiting for its domain run; null takes no slot', async () => {
  const running = new Map<string, { resolve: (v: void) => void }>();
  const launched: string[] = [];
  const { dispatcher } = setup({ concurrency: 2, concurrencyPerDomain: 1 }, (job) => {
    launched.push(job.id);
    if (job.id === 'skip') return null;
    const d = deferred<void>();
    running.set(job.id, d);
    return d.promise;
  });
  dispatcher.start();
  for (const [id, domain] of [['skip', 'x'], ['a1', 'a'], ['a2', 'a'], ['b1', 'b'], ['c1', 'c']] as const) dispatcher.schedule({ id, domain }, T0);
  assert.deepEqual(launched, ['skip', 'a1', 'b1'], 'skip took no slot; a2 waits for a, c1 for a free slot');
  running.get('a1')?.resolve();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(launched, ['skip', 'a1', 'b1', 'a2'], 'the job waiting for its domain comes first');
  running.get('b1')?.resolve();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(launched, ['skip', 'a1', 'b1', 'a2', 'c1']);
});

test('stop(): nothing more is launched and the timer is cleared', () => {
  const { time, launched, dispatcher } = setup();
  dispatcher.start();
  dispatcher.schedule({ id: 'a', domain: 'd' }, T0 + 1000);
  dispatcher.stop();
  assert.equal(time.nextTimer(), null);
  dispatcher.schedule({ id: 'b', domain: 'd' }, T0);
  time.advanceTo(T0 + 2000);
  assert.deepEqual(launched, []);
});
