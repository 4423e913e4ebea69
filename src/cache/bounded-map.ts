// The one eviction rule of facteur's in-memory caches and memos: a Map in insertion order, the oldest entry dropped
// once it holds more than its bound, so that no client, domain or sender can grow a cache without limit.

/** Sets `key` as the newest entry of `map` (a replaced key moves last), then drops the oldest while over `max`. */
export function rememberBounded<K, V>(map: Map<K, V>, key: K, value: V, max: number): void {
  map.delete(key);
  map.set(key, value);
  while (map.size > max) map.delete(map.keys().next().value as K);
}
