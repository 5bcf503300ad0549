import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

// `npm install` on a fresh clone must leave package-lock.json as committed. The usual drift: a field of
// package.json (a peer dependency, twice so far) changed without the lock's copy of it, so npm rewrites
// the lock's root entry. The lock's root package must mirror package.json, field for field.
const root = new URL('../..', import.meta.url).pathname;
const pkg = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as Record<string, unknown>;
const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as {
  name: string;
  version: string;
  lockfileVersion: number;
  packages: Record<string, Record<string, unknown>>;
};

describe('package-lock.json', () => {
  it('is lockfile v3 for this package', () => {
    expect(lock.lockfileVersion).toBe(3);
    expect([lock.name, lock.version]).toEqual([pkg.name, pkg.version]);
  });
  it('its root entry mirrors package.json (what npm install would rewrite)', () => {
    const entry = lock.packages['']!;
    for (const field of [
      'name',
      'version',
      'license',
      'dependencies',
      'devDependencies',
      'peerDependencies',
      'peerDependenciesMeta',
      'optionalDependencies',
      'engines',
      'bin',
    ]) {
      // npm writes bin paths without a leading ./
      const want =
        field === 'bin'
          ? Object.fromEntries(Object.entries((pkg.bin as Record<string, string>) ?? {}).map(([k, v]) => [k, v.replace(/^\.\//, '')]))
          : pkg[field];
      expect(entry[field], field).toEqual(want);
    }
  });
  it('locks every direct dependency', () => {
    for (const field of ['dependencies', 'devDependencies'] as const) {
      for (const name of Object.keys((pkg[field] as Record<string, string>) ?? {}))
        expect(lock.packages[`node_modules/${name}`], `${field}: ${name}`).toBeDefined();
    }
  });
});
