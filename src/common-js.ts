/**
 * `import()` of a CommonJS package (undici, tar-stream, the X.509 library), read the same way from
 * src/ and from the bundle. Node makes a namespace of the package's exports plus `default`, the whole
 * `module.exports`; the bundle's lazy chunk (esbuild) gives `default` alone. `default` is read
 * where there is one; an ES module package would need no call of this.
 */
export async function importCommonJs<T extends object>(loading: Promise<T>): Promise<T> {
  const namespace: T & { default?: T } = await loading;
  return namespace.default ?? namespace;
}
