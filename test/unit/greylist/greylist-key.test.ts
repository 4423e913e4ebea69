// What greylisting compares: client networks, senders without their per-message parts, exempt recipients.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clientNetwork, isExemptRecipient, recipientKey, senderKey, tripleKey } from '../../../src/greylist/greylist-key.js';

test('client networks: IPv4 /24, IPv6 /64', () => {
  const cases: [string, string][] = [
    ['192.0.2.77', '192.0.2.0/24'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
  ];
  for (const [ip, network] of cases) assert.equal(clientNetwork(ip), network, ip);
});

test('senders: lower-cased, without +detail, BATV tags, digit runs; SRS by domain; the null sender is "<>"', () => {
  const cases: [{ local: string; domain: string } | null, string][] = [
    [{ local: 'Alice', domain: 'Example.NET' }, 'alice@example.net'],
    [{ local: 'bounces+12345-abc', domain: 'lists.example' }, 'bounces@lists.example'],
    [{ local: 'bounce-20261203-4711', domain: 'news.example' }, 'bounce-#-#@news.example'],
    [{ local: 'prvs=0123abcd=alice', domain: 'example.net' }, 'alice@example.net'],
    [{ local: 'SRS0=HHH=TT=orig.example=bob', domain: 'forwarder.example' }, 'srs@forwarder.example'],
    [null, '<>'],
  ];
  for (const [sender, key] of cases) assert.equal(senderKey(sender), key, JSON.stringify(sender));
});

test('recipients: lower-cased whole; postmaster and abuse never greylisted', () => {
  assert.equal(recipientKey({ local: 'Bob+Lists', domain: 'Example.ORG' }), 'bob+lists@example.org');
  assert.equal(isExemptRecipient({ local: 'PostMaster', domain: 'example.org' }), true);
  assert.equal(isExemptRecipient({ local: 'postmaster', domain: '' }), true);
  assert.equal(isExemptRecipient({ local: 'abuse', domain: 'example.org' }), true);
  assert.equal(isExemptRecipient({ local: 'alice', domain: 'example.org' }), false);
});

test('triple keys: fixed length, distinct for distinct triples (no ambiguity across the parts)', () => {
  const k = tripleKey('192.0.2.0/24', 'a@b', 'c@d');
  assert.equal(k.length, 22);
  assert.notEqual(k, tripleKey('192.0.2.0/24', 'a@bc', '@d'));
  assert.equal(k, tripleKey('192.0.2.0/24', 'a@b', 'c@d'));
});
