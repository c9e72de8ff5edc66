/** Commander helper for repeatable options: `--tag a --tag b` → ['a', 'b']. */
export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
