import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { SpendRow } from '../api/llm-api.ts';

const PALETTE = [
  '#3b5bdb',
  '#e8590c',
  '#2b8a3e',
  '#c2255c',
  '#7048e8',
  '#0c8599',
  '#f08c00',
  '#5c940d',
];

/** Days × models → uPlot's columnar data (x in seconds, one y series per model, USD). */
export function spendSeries(rows: readonly SpendRow[]) {
  const days = [...new Set(rows.map((row) => row.day ?? ''))].filter(Boolean).sort();
  const models = [...new Set(rows.map((row) => row.model ?? 'unknown'))].sort();
  const index = new Map(days.map((day, at) => [day, at]));
  const series = models.map(() => days.map(() => 0));
  for (const row of rows) {
    const at = index.get(row.day ?? '');
    const model = models.indexOf(row.model ?? 'unknown');
    if (at !== undefined && model >= 0) series[model]![at]! += row.costNano / 1e9;
  }
  const xs = days.map((day) => Date.parse(`${day.slice(0, 10)}T00:00:00Z`) / 1000);
  return { models, data: [xs, ...series] as uPlot.AlignedData };
}

/** Cost per day by model (uPlot: small, canvas, no inline script). */
export function SpendChart({ rows }: { rows: readonly SpendRow[] }) {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (!element) return;
    const { models, data } = spendSeries(rows);
    const styles = getComputedStyle(document.documentElement);
    const text = styles.getPropertyValue('--text-muted').trim() || '#666';
    const grid = styles.getPropertyValue('--border').trim() || '#ddd';
    const axis = { stroke: text, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    const chart = new uPlot(
      {
        width: Math.max(320, element.clientWidth),
        height: 280,
        scales: { x: { time: true } },
        axes: [
          axis,
          {
            ...axis,
            values: (_chart, ticks) => ticks.map((tick) => `$${tick.toFixed(tick < 1 ? 4 : 2)}`),
            size: 70,
          },
        ],
        series: [
          {},
          ...models.map((model, index) => ({
            label: model,
            stroke: PALETTE[index % PALETTE.length]!,
            width: 2,
            points: { show: true, size: 5 },
            value: (_chart: uPlot, value: number | null) =>
              value === null ? '—' : `$${value.toFixed(6)}`,
          })),
        ],
      },
      data,
      element,
    );
    const observer = new ResizeObserver(() =>
      chart.setSize({ width: Math.max(320, element.clientWidth), height: 280 }),
    );
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [rows]);
  return (
    <div
      ref={container}
      className="spend-chart"
      role="img"
      aria-label="Cost per day by model; the table below has the same figures"
    />
  );
}
