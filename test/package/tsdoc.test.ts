import ts from 'typescript';
import { describe, expect, it } from 'vitest';

// Every public export (of every package entry) carries TSDoc: users read it in their editor.
const root = new URL('../..', import.meta.url).pathname;
const entries = ['src/index.ts', 'src/prisma.ts', 'src/pg.ts', 'src/testing/index.ts', 'adapters/express.ts'];

function undocumented(): string[] {
  const program = ts.createProgram(
    entries.map((e) => root + e),
    { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, strict: true, skipLibCheck: true, noEmit: true },
  );
  const checker = program.getTypeChecker();
  const missing: string[] = [];
  for (const entry of entries) {
    const file = program.getSourceFile(root + entry);
    if (!file) continue;
    const moduleSymbol = checker.getSymbolAtLocation(file);
    if (!moduleSymbol) continue;
    for (const exported of checker.getExportsOfModule(moduleSymbol)) {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const docs = ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
      if (!docs) missing.push(`${entry}: ${exported.getName()}`);
    }
  }
  return missing;
}

describe('TSDoc', () => {
  it('every public export is documented', () => {
    expect(undocumented()).toEqual([]);
  }, 60_000);
});
