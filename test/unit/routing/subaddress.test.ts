// Subaddress splitting and the folder-name check that guards the paths built from a detail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSafeFolderName, splitDetail } from '../../../src/routing/subaddress.js';

test('splitDetail: the first of any delimiter splits; none, off, or an empty base: null', () => {
  const cases: [string, string, { base: string; detail: string } | null][] = [
    ['alice+shop', '+', { base: 'alice', detail: 'shop' }],
    ['alice+shop+x', '+', { base: 'alice', detail: 'shop+x' }],
    ['alice-shop+x', '+-', { base: 'alice', detail: 'shop+x' }],
    ['alice+', '+', { base: 'alice', detail: '' }],
    ['alice', '+', null],
    ['+shop', '+', null],
    ['alice+shop', '', null],
    ['é+x', '+', { base: 'é', detail: 'x' }],
  ];
  for (const [local, delimiters, expected] of cases) assert.deepEqual(splitDetail(local, delimiters), expected, `${local} ${delimiters}`);
});

test('isSafeFolderName: Maildir++ names only', () => {
  for (const ok of ['shop', 'Shop', 'lists.news', 'a_b-c', '1']) assert.equal(isSafeFolderName(ok), true, ok);
  for (const bad of ['', '.', '..', '.shop', 'shop.', 'a..b', 'a/b', '../x', 'a\u0000b', 'a\nb', 'a b', 'x'.repeat(256), 'é']) {
    assert.equal(isSafeFolderName(bad), false, JSON.stringify(bad));
  }
});
