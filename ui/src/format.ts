/** Rates as operators write them (SI, bit/s), e.g. 100 Mbit/s. */
export function bps(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  const units: [number, string][] = [
    [1e9, 'Gbit/s'],
    [1e6, 'Mbit/s'],
    [1e3, 'kbit/s'],
  ];
  for (const [size, unit] of units) {
    if (Math.abs(value) >= size) {
      const n = value / size;
      return `${n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2)} ${unit}`;
    }
  }
  return `${value.toFixed(0)} bit/s`;
}

export function when(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function percent(used: number, capacity: number): number {
  return capacity <= 0 ? 0 : Math.min(100, Math.round((used / capacity) * 100));
}
