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

/*
 * One per array type, for the hottest loops (split search, host index).
 * `val` above is shared by every array type in the engine, so its element
 * access is megamorphic and V8 inlines it or not depending on what ran first:
 * the same split took 1.6 ms in one process and 3.8 ms in another (issue 14).
 * These see one type each and behave the same whatever ran before.
 */
export function f64(a: Float64Array, i: number): number {
  return a[i] as number;
}

export function i32(a: Int32Array, i: number): number {
  return a[i] as number;
}

export function u32(a: Uint32Array, i: number): number {
  return a[i] as number;
}

export function u8(a: Uint8Array, i: number): number {
  return a[i] as number;
}

export function addF64(a: Float64Array, i: number, delta: number): void {
  a[i] = (a[i] as number) + delta;
}
