// Durations and sizes of the config file: what parses, to what, and what is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, formatSize, parseDuration, parseSize, UnitError } from '../../../src/config/units.js';

test('durations parse to milliseconds', () => {
  const table: [string, number][] = [
    ['250ms', 250],
    ['0ms', 0],
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['5d', 432_000_000],
    ['90s', 90_000],
    [' 10s ', 10_000],
  ];
  for (const [text, ms] of table) assert.equal(parseDuration(text), ms, text);
});

test('bad durations are refused with a readable reason', () => {
  const table: [unknown, RegExp][] = [
    ['5', /has no unit/],
    ['-5s', /is not a duration/],
    ['5 s', /is not a duration/],
    ['1.5h', /is not a duration/],
    ['5sec', /is not a duration/],
    ['5M', /is not a duration/],
    ['', /is not a duration/],
    ['s', /is not a duration/],
    [5, /expected a duration string/],
    [true, /expected a duration string/],
    [['5s'], /found a list/],
    ['99999999999999999999d', /too long/],
  ];
  for (const [value, reason] of table) {
    assert.throws(() => parseDuration(value), (err: unknown) => err instanceof UnitError && reason.test(err.message), String(value));
  }
});

test('sizes parse to bytes (KB = 1024 bytes, MB = 1024 KB)', () => {
  const table: [unknown, number][] = [
    ['25MB', 25 * 1024 * 1024],
    ['512KB', 512 * 1024],
    ['1GB', 1024 ** 3],
    ['100B', 100],
    ['100', 100],
    ['25mb', 25 * 1024 * 1024],
    [4096, 4096],
    [0, 0],
  ];
  for (const [value, bytes] of table) assert.equal(parseSize(value), bytes, String(value));
});

test('bad sizes are refused', () => {
  for (const value of ['-1', -1, '25XB', '1.5MB', 'MB', '', '25 M B', 1.5, '1TB', true, null, '99999999999999GB']) {
    assert.throws(() => parseSize(value), UnitError, String(value));
  }
});

test('formatting picks the largest exact unit and parses back', () => {
  assert.equal(formatDuration(300_000), '5m');
  assert.equal(formatDuration(90_000), '90s');
  assert.equal(formatDuration(1500), '1500ms');
  assert.equal(formatDuration(432_000_000), '5d');
  assert.equal(formatSize(26_214_400), '25MB');
  assert.equal(formatSize(1000), '1000B');
  assert.equal(formatSize(1024 ** 3), '1GB');
  for (const ms of [0, 1, 999, 1000, 61_000, 3_600_000, 86_400_000 * 3]) assert.equal(parseDuration(formatDuration(ms)), ms);
  for (const bytes of [0, 1, 1023, 1024, 5 * 1024 * 1024 + 1, 1024 ** 3 * 2]) assert.equal(parseSize(formatSize(bytes)), bytes);
});
