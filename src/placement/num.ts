/**
 * Typed-array access for hot loops. `noUncheckedIndexedAccess` types every
 * read as possibly undefined; the engine only indexes within bounds it
 * allocated itself, so these keep the loops readable without assertions at
 * every site (V8 inlines them).
 */
export type NumArray = Float64Array | Int32Array | Uint8Array;

export function val(arr: ArrayLike<number>, i: number): number {
  return arr[i] as number;
}

export function bump(arr: NumArray, i: number, delta: number): void {
  arr[i] = (arr[i] as number) + delta;
}
