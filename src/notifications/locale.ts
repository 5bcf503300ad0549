/** `en`, or `zh-CN` for any Chinese tag: the two languages the built-in templates speak. */
export function normalizeLocale(locale: unknown): string | undefined {
  if (typeof locale !== 'string' || locale.length === 0) return undefined;
  return /^zh\b/i.test(locale) ? 'zh-CN' : 'en';
}
