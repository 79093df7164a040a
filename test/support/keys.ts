/** The homeAccountId in a stored per-user key (`<prefix>tokens:{<tag>}<homeAccountId>`, server/stores/user-slot.ts). */
export function userOfKey(key: string, namespace = 'tokens:'): string {
  const rest = key.slice(key.indexOf(namespace) + namespace.length);
  const tagged = /^\{[\w-]{11}\}(.+)$/s.exec(rest);
  if (!tagged) throw new Error(`not a per-user key: ${key}`);
  return tagged[1]!;
}
