/**
 * The one namespace option `openStore` takes for the kind of store a URL names. Its own module,
 * free of vitest, so that child-process fixtures can use it too.
 */

/**
 * The one namespace option `openStore` takes for the kind of store `url` names (a prefix for
 * Redis, a schema for PostgreSQL, none otherwise): it refuses another kind's option.
 * @param url - the store URL
 * @param ns - the namespace
 */
export function namespaceFor(
  url: string,
  ns: { prefix: string; schema: string },
): { prefix?: string; schema?: string } {
  if (/^rediss?(\+cluster)?:\/\//.test(url)) return { prefix: ns.prefix };
  if (/^postgres(ql)?:\/\//.test(url)) return { schema: ns.schema };
  return {};
}
