import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

/** SECURITY.md's threat table names tests; each must exist, so every claim stays proven. */
describe('SECURITY.md', () => {
  const doc = readFileSync('SECURITY.md', 'utf8');
  const named = [...doc.matchAll(/`(test\/[\w/.-]+\.test\.ts)` › `([^`]+)`/g)].map((m) => ({ file: m[1]!, name: m[2]! }));

  it('names a test for every threat in its table', () => {
    const rows = doc.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| threat') && !l.startsWith('|---'));
    const threatRows = rows.filter((l) => l.includes('›'));
    expect(threatRows.length).toBeGreaterThanOrEqual(30);
    expect(named.length).toBe(threatRows.length);
  });

  it.each(named.map((n) => [n.file, n.name]))('%s has the test "%s"', (file, name) => {
    const source = readFileSync(file, 'utf8');
    // The name as written in the test: a plain string or a template literal.
    expect(source.includes(`'${name}'`) || source.includes(`\`${name}\``) || source.includes(`"${name}"`)).toBe(true);
  });
});
