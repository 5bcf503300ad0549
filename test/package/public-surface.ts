import ts from 'typescript';

/** Every published entry point and its source file (tsup.config.ts builds one from the other). */
export const ENTRY_SOURCES: Readonly<Record<string, string>> = {
  'subscription-webhooks': 'src/index.ts',
  'subscription-webhooks/express': 'adapters/express.ts',
  'subscription-webhooks/koa': 'adapters/koa.ts',
  'subscription-webhooks/next': 'adapters/next.ts',
  'subscription-webhooks/next/apple': 'adapters/next/apple.ts',
  'subscription-webhooks/next/xsolla': 'adapters/next/xsolla.ts',
  'subscription-webhooks/next/google': 'adapters/next/google.ts',
  'subscription-webhooks/fetch': 'adapters/fetch.ts',
  'subscription-webhooks/prisma': 'src/prisma.ts',
  'subscription-webhooks/pg': 'src/pg.ts',
  'subscription-webhooks/sqlite': 'src/sqlite.ts',
  'subscription-webhooks/callback': 'adapters/callback.ts',
  'subscription-webhooks/adapter-kit': 'src/adapter-kit.ts',
  'subscription-webhooks/testing': 'src/testing/index.ts',
};

export interface ExportedName {
  name: string;
  kind: 'value' | 'type';
  /** The TSDoc `@deprecated` text, when the export is deprecated. */
  deprecated?: string;
  /** The folder of the declaring file, relative to the repository (e.g. `src/providers/apple`). */
  from: string;
}

/** The exported names of every entry, read with the TypeScript checker (values and types). */
export function publicSurface(root: string): Record<string, ExportedName[]> {
  const files = Object.values(ENTRY_SOURCES).map((f) => root + f);
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const out: Record<string, ExportedName[]> = {};
  for (const [entry, file] of Object.entries(ENTRY_SOURCES)) {
    const source = program.getSourceFile(root + file);
    const moduleSymbol = source && checker.getSymbolAtLocation(source);
    if (!moduleSymbol) throw new Error(`cannot read ${file}`);
    out[entry] = checker.getExportsOfModule(moduleSymbol).map((exported) => {
      const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
      const tags = [...exported.getJsDocTags(checker), ...symbol.getJsDocTags(checker)];
      const deprecated = tags.find((t) => t.name === 'deprecated');
      const declaration = symbol.declarations?.[0]?.getSourceFile().fileName ?? '';
      return {
        name: exported.getName(),
        kind: symbol.flags & ts.SymbolFlags.Value ? 'value' : 'type',
        ...(deprecated ? { deprecated: ts.displayPartsToString(deprecated.text).trim() || 'deprecated' } : {}),
        from: declaration.slice(root.length).replace(/\/[^/]+$/, ''),
      };
    });
  }
  return out;
}

/** The names docs/api.md lists under each entry's heading (`## \`subscription-webhooks/…\``): every `- \`name\`` line. */
export function documentedSurface(markdown: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  let entry: string | undefined;
  for (const line of markdown.split('\n')) {
    // Another second-level heading (e.g. the instance's deprecated members) ends the entry sections.
    if (line.startsWith('## ')) entry = /^## `([^`]+)`/.exec(line)?.[1];
    const item = /^- `([A-Za-z_$][\w$]*)`/.exec(line);
    if (item && entry) (out[entry] ??= []).push(item[1]!);
  }
  return out;
}
