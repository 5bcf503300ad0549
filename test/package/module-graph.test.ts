import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// No module cycle in the package's code. A module is a folder (src/delivery, src/notifications,
// src/providers/apple, …: its files are one unit), except src/core, whose files are the core's layers
// (errors and ids at the bottom, the composition root on top), and the entry files (src/*.ts, adapters/*.ts).
// Only imports that exist at run time count: `import type` and imports whose every name is `type` are left out.
const root = new URL('../..', import.meta.url).pathname;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') && !path.endsWith('.d.ts') ? [path] : [];
  });
}

/** The relative modules `file` imports at run time (static imports and re-exports; type-only ones left out). */
export function runtimeImports(file: string, text = readFileSync(file, 'utf8')): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const out: string[] = [];
  for (const node of source.statements) {
    let specifier: ts.Expression | undefined;
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      if (clause?.isTypeOnly) continue;
      const bindings = clause?.namedBindings;
      const onlyTypes =
        clause && !clause.name && bindings && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((e) => e.isTypeOnly);
      if (onlyTypes) continue;
      specifier = node.moduleSpecifier;
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      if (node.isTypeOnly) continue;
      const clause = node.exportClause;
      if (clause && ts.isNamedExports(clause) && clause.elements.length > 0 && clause.elements.every((e) => e.isTypeOnly)) continue;
      specifier = node.moduleSpecifier;
    }
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) continue;
    const target = resolve(dirname(file), specifier.text).replace(/\.js$/, '.ts');
    const candidates = [target, `${target}.ts`, join(target, 'index.ts')];
    const found = candidates.find((c) => existsSync(c) && statSync(c).isFile());
    if (found) out.push(found);
  }
  return out;
}

/** Every cycle's files, each cycle once (Tarjan's strongly connected components of more than one file, or a file importing itself). */
export function moduleCycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  const visit = (v: string) => {
    indexOf.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!indexOf.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indexOf.get(w)!));
    }
    if (low.get(v) === indexOf.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of graph.keys()) if (!indexOf.has(v)) visit(v);
  return cycles;
}

/** The module a file belongs to: its own path for a file of src/core or an entry file, else its folder. */
export function moduleOf(path: string): string {
  const folder = dirname(path);
  return folder === 'src/core' || folder === 'src' || folder === 'adapters' ? path : folder;
}

/** Module → the modules it imports at run time (itself left out: a folder's files may import each other). */
function packageGraph(): Map<string, string[]> {
  const graph = new Map<string, Set<string>>();
  for (const file of [...sourceFiles(join(root, 'src')), ...sourceFiles(join(root, 'adapters'))]) {
    const from = moduleOf(relative(root, file));
    const edges = graph.get(from) ?? graph.set(from, new Set()).get(from)!;
    for (const target of runtimeImports(file)) {
      const to = moduleOf(relative(root, target));
      if (to !== from) edges.add(to);
    }
  }
  return new Map([...graph].map(([k, v]) => [k, [...v]]));
}

describe('module graph', () => {
  it('src/ and adapters/ have no import cycle between modules (type-only imports aside)', () => {
    const graph = packageGraph();
    expect(graph.size).toBeGreaterThan(30);
    expect(moduleCycles(graph)).toEqual([]);
  });

  it('the check sees a cycle, a re-export cycle and a self-import, and ignores type-only imports', () => {
    const at = (name: string) => join(root, 'src', name);
    // The parser reads specifiers; resolution needs real files, so the fixture graph names real ones.
    expect(runtimeImports(at('core/handler.ts'), "import type { A } from './config.js'; import { type B } from './errors.js';")).toEqual([]);
    expect(runtimeImports(at('core/handler.ts'), "export { x } from './config.js'; import { type B, c } from './errors.js';")).toEqual([
      at('core/config.ts'),
      at('core/errors.ts'),
    ]);
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a']],
      ['d', ['d']],
      ['e', ['a']],
    ]);
    expect(moduleCycles(graph)).toEqual([['a', 'b', 'c'], ['d']]);
  });
});
